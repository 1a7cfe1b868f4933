// Command manifestcheck prepares the schemas that kubeconform validates orderflow's Kubernetes
// manifests against, and checks the rules of orderflow's manifests that no schema can express.
//
//	manifestcheck kubernetes-schemas SRC DST   make kubernetes-validate's schemas loadable offline
//	manifestcheck crd-schemas DST CRD.yaml...  turn CRDs into kubeconform's JSON-schema layout
//	manifestcheck policy < rendered.yaml       check a rendered overlay against orderflow's rules
//	manifestcheck commands < rendered.yaml     list each container's arguments to the binary
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "kubernetes-schemas":
		if len(os.Args) != 4 {
			usage()
		}
		err = kubernetesSchemas(os.Args[2], os.Args[3])
	case "crd-schemas":
		if len(os.Args) < 4 {
			usage()
		}
		err = crdSchemas(os.Args[2], os.Args[3:])
	case "policy":
		err = policy(os.Stdin, os.Stdout)
	case "commands":
		err = commands(os.Stdin, os.Stdout)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "manifestcheck %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: manifestcheck kubernetes-schemas SRC DST\n"+
		"       manifestcheck crd-schemas DST CRD.yaml...\n"+
		"       manifestcheck policy|commands < rendered.yaml")
	os.Exit(2)
}
