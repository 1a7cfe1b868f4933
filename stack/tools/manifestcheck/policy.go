package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The orderflow binary's default shutdown grace (shutdown.grace_ms), used when the rendered
// orderflow.toml does not set one: a pod must be given longer than the grace between SIGTERM
// and SIGKILL to finish its transaction and leave its group.
const defaultShutdownGraceMs = 20_000

// policy checks a rendered overlay for what kubeconform cannot see: the rules orderflow's
// workloads follow and the consistency between objects (a processor never scaled past the
// partitions of its input, a topic never replicated wider than the brokers).
func policy(in io.Reader, out io.Writer) error {
	objects, err := readObjects(in)
	if err != nil {
		return err
	}
	var problems []string
	problems = append(problems, workloadProblems(objects, shutdownGraceSeconds(objects))...)
	problems = append(problems, scalingProblems(objects)...)
	problems = append(problems, topicProblems(objects)...)
	if len(problems) > 0 {
		return fmt.Errorf("%d problem(s):\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	fmt.Fprintf(out, "policy: %d workloads, %d scaled objects, %d topics: ok\n",
		len(objects["Deployment"])+len(objects["StatefulSet"]), len(objects["ScaledObject"]),
		len(objects["KafkaTopic"]))
	return nil
}

type object map[string]any

// readObjects reads a rendered overlay (multi-document YAML) and groups its objects by kind.
func readObjects(in io.Reader) (map[string][]object, error) {
	data, err := io.ReadAll(in)
	if err != nil {
		return nil, err
	}
	docs, err := parseDocuments(string(data), "stdin")
	if err != nil {
		return nil, err
	}
	return index(docs), nil
}

// index groups objects by kind.
func index(docs []map[string]any) map[string][]object {
	byKind := map[string][]object{}
	for _, doc := range docs {
		kind, _ := doc["kind"].(string)
		byKind[kind] = append(byKind[kind], object(doc))
	}
	return byKind
}

// get follows a path of keys; a missing step gives nil.
func (o object) get(path ...string) any {
	var node any = map[string]any(o)
	for _, key := range path {
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		node = m[key]
	}
	return node
}

func (o object) name() string {
	name, _ := o.get("metadata", "name").(string)
	kind, _ := o["kind"].(string)
	return kind + "/" + name
}

func number(v any) (int, bool) {
	switch n := v.(type) {
	case float64:
		return int(n), true
	case string:
		i, err := strconv.Atoi(n)
		return i, err == nil
	}
	return 0, false
}

func asObject(v any) object {
	m, _ := v.(map[string]any)
	return object(m)
}

func list(v any) []any {
	items, _ := v.([]any)
	return items
}

// shutdownGraceSeconds reads shutdown.grace_ms from the orderflow.toml of a rendered ConfigMap,
// rounded up to whole seconds.
func shutdownGraceSeconds(objects map[string][]object) int {
	graceMs := defaultShutdownGraceMs
	for _, configMap := range objects["ConfigMap"] {
		config, ok := configMap.get("data", "orderflow.toml").(string)
		if !ok {
			continue
		}
		section := ""
		for _, line := range strings.Split(config, "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "[") {
				section = strings.Trim(line, "[] ")
				continue
			}
			key, value, found := strings.Cut(line, "=")
			if !found || section != "shutdown" || strings.TrimSpace(key) != "grace_ms" {
				continue
			}
			value, _, _ = strings.Cut(value, "#")
			if ms, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(value), "_", "")); err == nil {
				graceMs = ms
			}
		}
	}
	return (graceMs + 999) / 1000
}

func workloadProblems(objects map[string][]object, graceSeconds int) []string {
	var problems []string
	for _, w := range append(objects["Deployment"], objects["StatefulSet"]...) {
		pod := asObject(w.get("spec", "template", "spec"))
		bad := func(format string, args ...any) {
			problems = append(problems, w.name()+": "+fmt.Sprintf(format, args...))
		}
		grace, ok := number(pod.get("terminationGracePeriodSeconds"))
		if !ok || grace <= graceSeconds {
			bad("terminationGracePeriodSeconds must exceed the %d s shutdown grace", graceSeconds)
		}
		if pod.get("securityContext", "runAsNonRoot") != true {
			bad("the pod must set runAsNonRoot")
		}
		podSeccomp := pod.get("securityContext", "seccompProfile", "type")
		for _, c := range append(list(pod.get("initContainers")), list(pod.get("containers"))...) {
			container := asObject(c)
			name, _ := container.get("name").(string)
			where := w.name() + " container " + name
			problems = append(problems, containerProblems(where, container, podSeccomp)...)
		}
	}
	return problems
}

func containerProblems(where string, c object, podSeccomp any) []string {
	var problems []string
	bad := func(problem string) { problems = append(problems, where+": "+problem) }
	security := asObject(c.get("securityContext"))
	if security.get("readOnlyRootFilesystem") != true {
		bad("the root filesystem must be read-only")
	}
	if security.get("allowPrivilegeEscalation") != false {
		bad("allowPrivilegeEscalation must be false")
	}
	dropsAll := false
	for _, capability := range list(security.get("capabilities", "drop")) {
		dropsAll = dropsAll || capability == "ALL"
	}
	if !dropsAll {
		bad("capabilities must drop ALL")
	}
	seccomp := security.get("seccompProfile", "type")
	if seccomp == nil {
		seccomp = podSeccomp
	}
	if seccomp != "RuntimeDefault" {
		bad("the seccomp profile must be RuntimeDefault")
	}
	for _, field := range []string{"requests", "limits"} {
		for _, resource := range []string{"cpu", "memory"} {
			if c.get("resources", field, resource) == nil {
				bad(fmt.Sprintf("resources.%s.%s is missing", field, resource))
			}
		}
	}
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		if c.get(probe) == nil {
			bad(probe + " is missing")
		}
	}
	return problems
}

// scalingProblems checks that no autoscaler can start more instances of a processor than its
// input topics have partitions: the extra instances would sit idle, holding a transactional id.
func scalingProblems(objects map[string][]object) []string {
	partitions := map[string]int{}
	for _, t := range objects["KafkaTopic"] {
		n, _ := number(t.get("spec", "partitions"))
		partitions[topicName(t)] = n
	}
	targets := map[string]object{}
	for _, w := range append(objects["Deployment"], objects["StatefulSet"]...) {
		targets[w.name()] = w
	}
	var problems []string
	for _, s := range objects["ScaledObject"] {
		bad := func(format string, args ...any) {
			problems = append(problems, s.name()+": "+fmt.Sprintf(format, args...))
		}
		kind, _ := s.get("spec", "scaleTargetRef", "kind").(string)
		targetName, _ := s.get("spec", "scaleTargetRef", "name").(string)
		target, found := targets[kind+"/"+targetName]
		if !found {
			bad("scales %s/%s, which is not in the overlay", kind, targetName)
		}
		max, ok := number(s.get("spec", "maxReplicaCount"))
		if !ok {
			bad("maxReplicaCount must be set (KEDA's default is 100)")
		}
		if min, ok := number(s.get("spec", "minReplicaCount")); ok && min > max {
			bad("minReplicaCount %d exceeds maxReplicaCount %d", min, max)
		}
		for _, trigger := range list(s.get("spec", "triggers")) {
			t := asObject(trigger)
			if t.get("type") != "kafka" {
				continue
			}
			topic, _ := t.get("metadata", "topic").(string)
			count, known := partitions[topic]
			switch {
			case !known:
				bad("trigger topic %q has no KafkaTopic", topic)
			case max > count:
				bad("maxReplicaCount %d exceeds the %d partitions of %s", max, count, topic)
			}
		}
		if replicas, ok := number(target.get("spec", "replicas")); found && ok && replicas > max {
			bad("%s starts %d replicas, above maxReplicaCount %d", target.name(), replicas, max)
		}
	}
	return problems
}

func topicName(t object) string {
	if name, ok := t.get("spec", "topicName").(string); ok {
		return name
	}
	name, _ := t.get("metadata", "name").(string)
	return name
}

// topicProblems checks each topic against the brokers of its cluster: replicas no more than
// brokers, and min.insync.replicas below replicas so that one broker may be down.
func topicProblems(objects map[string][]object) []string {
	brokers := map[string]int{}
	for _, pool := range objects["KafkaNodePool"] {
		cluster, _ := pool.get("metadata", "labels", "strimzi.io/cluster").(string)
		for _, role := range list(pool.get("spec", "roles")) {
			if role == "broker" {
				n, _ := number(pool.get("spec", "replicas"))
				brokers[cluster] += n
			}
		}
	}
	var problems []string
	for _, t := range objects["KafkaTopic"] {
		bad := func(format string, args ...any) {
			problems = append(problems, t.name()+": "+fmt.Sprintf(format, args...))
		}
		cluster, _ := t.get("metadata", "labels", "strimzi.io/cluster").(string)
		replicas, _ := number(t.get("spec", "replicas"))
		if replicas < 1 || replicas > brokers[cluster] {
			bad("%d replicas on %d brokers of cluster %q", replicas, brokers[cluster], cluster)
		}
		minISR, ok := number(t.get("spec", "config", "min.insync.replicas"))
		if !ok {
			bad("min.insync.replicas must be set")
		} else if replicas > 1 && minISR >= replicas {
			bad("min.insync.replicas %d leaves no broker to spare of %d replicas", minISR, replicas)
		}
	}
	return problems
}
