// Renders the lab's argocd-notifications-cm templates as argo-cd v3.5.1's notifications controller does
// (notifications-engine pkg/templates/service.go: text/template with sprig's TxtFuncMap less env and expandenv;
// pkg/services/webhook.go GetTemplater: each webhook's body and path parsed and executed the same way; the values
// read with sigs.k8s.io/yaml), for tests/integration/test_notifications_render.py.
//
// stdin: {"data": <the ConfigMap's data>, "apps": [<Application objects>]}
// stdout: [{"template": name, "app": index, "message": text, "webhook": {service: {"method", "path", "body"}}}]
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"
)

type webhook struct {
	Method string `json:"method"`
	Body   string `json:"body"`
	Path   string `json:"path"`
}

type notification struct {
	Message string             `json:"message,omitempty"`
	Webhook map[string]webhook `json:"webhook,omitempty"`
}

type input struct {
	Data map[string]string `json:"data"`
	Apps []map[string]any  `json:"apps"`
}

type output struct {
	Template string             `json:"template"`
	App      int                `json:"app"`
	Message  string             `json:"message"`
	Webhook  map[string]webhook `json:"webhook"`
}

func render(funcs template.FuncMap, name, text string, vars map[string]any) (string, error) {
	t, err := template.New(name).Funcs(funcs).Parse(text)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	if err := t.Execute(&out, vars); err != nil {
		return "", err
	}
	return out.String(), nil
}

func run() error {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		return err
	}
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	var names []string
	for key := range in.Data {
		if strings.HasPrefix(key, "template.") {
			names = append(names, key)
		}
	}
	sort.Strings(names)
	results := []output{}
	for _, key := range names {
		var n notification
		if err := yaml.Unmarshal([]byte(in.Data[key]), &n); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		name := strings.TrimPrefix(key, "template.")
		for i, app := range in.Apps {
			vars := map[string]any{"app": app, "context": map[string]string{}, "serviceType": "webhook"}
			message, err := render(funcs, name, n.Message, vars)
			if err != nil {
				return fmt.Errorf("%s message, app %d: %w", name, i, err)
			}
			hooks := map[string]webhook{}
			for service, hook := range n.Webhook {
				body, err := render(funcs, name+service, hook.Body, vars)
				if err != nil {
					return fmt.Errorf("%s webhook %s body, app %d: %w", name, service, i, err)
				}
				path, err := render(funcs, name+service, hook.Path, vars)
				if err != nil {
					return fmt.Errorf("%s webhook %s path, app %d: %w", name, service, i, err)
				}
				hooks[service] = webhook{Method: hook.Method, Body: body, Path: path}
			}
			results = append(results, output{Template: name, App: i, Message: message, Webhook: hooks})
		}
	}
	return json.NewEncoder(os.Stdout).Encode(results)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
