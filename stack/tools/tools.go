//go:build tools

// Package tools pins the programs that check the Kubernetes manifests offline: kustomize
// renders the overlays, kubeconform validates every rendered object against its schema.
package tools

import (
	_ "github.com/yannh/kubeconform/cmd/kubeconform"
	_ "sigs.k8s.io/kustomize/kustomize/v5"
)
