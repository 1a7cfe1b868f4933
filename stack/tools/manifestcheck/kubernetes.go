package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The kubernetes-validate package ships one strict JSON schema per kind that refers to the
// shared definitions by an absolute path under its own $id (https://kubernetes.io/api/...).
// kubeconform would fetch that address over the network; without the $id and with the
// reference made relative, the definitions load from the file beside the kind's schema.
const definitionsRef = "/api/_definitions.json"

// kubernetesSchemas copies every schema in src to dst, loadable from disk alone.
func kubernetesSchemas(src, dst string) error {
	files, err := filepath.Glob(filepath.Join(src, "*.json"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no schemas in %s", src)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, file := range files {
		var schema map[string]any
		if err := readJSON(file, &schema); err != nil {
			return err
		}
		delete(schema, "$id")
		relativeRefs(schema)
		if err := writeJSON(filepath.Join(dst, filepath.Base(file)), schema); err != nil {
			return err
		}
	}
	return nil
}

// relativeRefs rewrites every reference to the shared definitions as a path beside the file.
func relativeRefs(node any) {
	switch n := node.(type) {
	case map[string]any:
		for key, value := range n {
			if ref, ok := value.(string); ok && key == "$ref" {
				n[key] = strings.Replace(ref, definitionsRef, "_definitions.json", 1)
				continue
			}
			relativeRefs(value)
		}
	case []any:
		for _, item := range n {
			relativeRefs(item)
		}
	}
}

func readJSON(path string, into any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, value any) error {
	data, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, data, 0o644)
}
