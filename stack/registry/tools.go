//go:build tools

// Package tools pins the schema registry that the local stack builds from the Go module proxy.
package tools

import _ "github.com/axonops/axonops-schema-registry/cmd/schema-registry"
