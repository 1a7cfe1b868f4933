package main

import (
	"fmt"
	"io"
	"strings"
)

// commands prints, for every container of every workload, the arguments it passes to the
// image's entrypoint, one container a line: "<kind>/<name> <arg>...". The check script runs
// the real binary with each line's arguments and --help, so a manifest cannot name a
// subcommand the binary does not have.
func commands(in io.Reader, out io.Writer) error {
	objects, err := readObjects(in)
	if err != nil {
		return err
	}
	for _, w := range append(objects["Deployment"], objects["StatefulSet"]...) {
		for _, c := range list(w.get("spec", "template", "spec", "containers")) {
			container := asObject(c)
			if container.get("command") != nil {
				return fmt.Errorf("%s: a container overrides the image's entrypoint", w.name())
			}
			var args []string
			for _, arg := range list(container.get("args")) {
				args = append(args, fmt.Sprint(arg))
			}
			fmt.Fprintln(out, w.name(), strings.Join(args, " "))
		}
	}
	return nil
}
