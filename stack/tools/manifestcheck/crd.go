package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// crdSchemas writes the schema of every version of every CustomResourceDefinition in files to
// dst/<group>/<kind>_<version>.json, the layout kubeconform finds with the location
// "{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json". The schemas are made
// strict as the API server prunes: a field a CRD does not declare is an error, not ignored.
func crdSchemas(dst string, files []string) error {
	written := 0
	for _, file := range files {
		docs, err := readDocuments(file)
		if err != nil {
			return err
		}
		for _, doc := range docs {
			if doc["kind"] != "CustomResourceDefinition" {
				continue
			}
			n, err := writeCRD(dst, doc)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			written += n
		}
	}
	if written == 0 {
		return fmt.Errorf("no CustomResourceDefinition in %s", strings.Join(files, " "))
	}
	return nil
}

func writeCRD(dst string, crd map[string]any) (int, error) {
	spec, _ := crd["spec"].(map[string]any)
	group, _ := spec["group"].(string)
	names, _ := spec["names"].(map[string]any)
	kind, _ := names["kind"].(string)
	versions, _ := spec["versions"].([]any)
	if group == "" || kind == "" || len(versions) == 0 {
		return 0, fmt.Errorf("a CRD without group, kind or versions")
	}
	dir := filepath.Join(dst, group)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	for _, v := range versions {
		version, _ := v.(map[string]any)
		name, _ := version["name"].(string)
		wrapper, _ := version["schema"].(map[string]any)
		schema, ok := wrapper["openAPIV3Schema"].(map[string]any)
		if name == "" || !ok {
			return 0, fmt.Errorf("%s: a version without name or openAPIV3Schema", kind)
		}
		file := filepath.Join(dir, strings.ToLower(kind)+"_"+name+".json")
		if err := writeJSON(file, jsonSchema(schema)); err != nil {
			return 0, err
		}
	}
	return len(versions), nil
}

// jsonSchema turns a structural OpenAPI v3 schema into the JSON schema the API server applies:
// undeclared fields refused, int-or-string and nullable spelt as JSON schema spells them.
func jsonSchema(node any) any {
	switch n := node.(type) {
	case map[string]any:
		out := make(map[string]any, len(n)+1)
		for key, value := range n {
			out[key] = jsonSchema(value)
		}
		if n["x-kubernetes-int-or-string"] == true {
			delete(out, "type")
			out["anyOf"] = []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}
		}
		if t, ok := out["type"].(string); ok && n["nullable"] == true {
			out["type"] = []any{t, "null"}
		}
		_, declared := n["additionalProperties"]
		if _, hasProperties := n["properties"]; hasProperties && !declared &&
			n["x-kubernetes-preserve-unknown-fields"] != true {
			out["additionalProperties"] = false
		}
		return out
	case []any:
		out := make([]any, len(n))
		for i, item := range n {
			out[i] = jsonSchema(item)
		}
		return out
	default:
		return node
	}
}

// readDocuments reads a multi-document YAML file; documents are separated by lines "---".
func readDocuments(path string) ([]map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseDocuments(string(data), path)
}

func parseDocuments(text, origin string) ([]map[string]any, error) {
	var docs []map[string]any
	for i, part := range splitDocuments(text) {
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(part), &doc); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", origin, i+1, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	return docs, nil
}

func splitDocuments(text string) []string {
	var parts []string
	var current strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		if strings.TrimRight(line, " \r\n") == "---" {
			parts = append(parts, current.String())
			current.Reset()
			continue
		}
		current.WriteString(line)
	}
	return append(parts, current.String())
}
