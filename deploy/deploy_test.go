// Package deploy holds the container image's and Kubernetes' manifests;
// its test checks what no container runtime on the test machine can run:
// that they parse and agree with each other and with the configuration.
package deploy

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/licensync/licensync/config"
)

// manifest reads one Kubernetes manifest into a generic tree.
func manifest(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("kubernetes", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// at walks m along keys (a number indexes a list).
func at(t *testing.T, m any, keys ...any) any {
	t.Helper()
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			mm, ok := m.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a mapping at %q", keys, k)
			}
			m = mm[k]
		case int:
			l, ok := m.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no item %d", keys, k)
			}
			m = l[k]
		}
	}
	return m
}

func TestTheKustomizationListsEveryManifest(t *testing.T) {
	k := manifest(t, "kustomization.yaml")
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var want []any
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			want = append(want, b)
		}
	}
	got := slices.Clone(at(t, k, "resources").([]any))
	slices.SortFunc(got, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
	if !slices.Equal(got, want) {
		t.Errorf("resources %v, want %v", got, want)
	}
}

// TestTheDeploymentRunsTwoReplicasOnTheConfiguredStateWithTheirSecrets
// reads the Deployment, the ConfigMap and the Secret together: the
// configuration the pods load must validate with the Secret's files as
// credentials, keep its state in PostgreSQL, and listen where the probes
// look.
func TestTheDeploymentRunsTwoReplicasOnTheConfiguredStateWithTheirSecrets(t *testing.T) {
	d := manifest(t, "deployment.yaml")
	cm := manifest(t, "configmap.yaml")
	sec := manifest(t, "secret.yaml")
	if at(t, d, "kind") != "Deployment" || at(t, d, "spec", "replicas") != 2 {
		t.Fatalf("kind %v with %v replicas, want a Deployment of 2", at(t, d, "kind"), at(t, d, "spec", "replicas"))
	}
	pod := at(t, d, "spec", "template", "spec")
	if at(t, pod, "securityContext", "runAsNonRoot") != true {
		t.Error("the pod may run as root")
	}
	c := at(t, pod, "containers", 0)
	if at(t, c, "args", 0) != "serve" || at(t, c, "securityContext", "readOnlyRootFilesystem") != true {
		t.Errorf("container args %v, read-only root %v; want serve on a read-only root", at(t, c, "args"), at(t, c, "securityContext", "readOnlyRootFilesystem"))
	}
	if at(t, c, "livenessProbe", "httpGet", "path") != "/healthz" || at(t, c, "readinessProbe", "httpGet", "path") != "/readyz" {
		t.Errorf("probes on %v and %v, want /healthz and /readyz", at(t, c, "livenessProbe", "httpGet", "path"), at(t, c, "readinessProbe", "httpGet", "path"))
	}
	port := at(t, c, "ports", 0, "containerPort")

	// Where each volume is mounted, by the object it comes from.
	mounts := map[string]string{}
	for _, m := range at(t, c, "volumeMounts").([]any) {
		mounts[at(t, m, "name").(string)] = at(t, m, "mountPath").(string)
	}
	var configDir, credDir string
	for _, v := range at(t, pod, "volumes").([]any) {
		name := at(t, v, "name").(string)
		if cmName, ok := v.(map[string]any)["configMap"]; ok && at(t, cmName, "name") == at(t, cm, "metadata", "name") {
			configDir = mounts[name]
		}
		if s, ok := v.(map[string]any)["secret"]; ok && at(t, s, "secretName") == at(t, sec, "metadata", "name") {
			credDir = mounts[name]
			if mode := at(t, s, "defaultMode").(int); mode&0o040 == 0 {
				t.Errorf("the Secret's files are mode %o: the pod's group (fsGroup) cannot read them", mode)
			}
		}
	}
	if configDir != "/etc/licensync" || at(t, c, "args", 2) != configDir+"/licensync.yaml" {
		t.Errorf("the ConfigMap is mounted at %q and serve reads %v", configDir, at(t, c, "args", 2))
	}
	env := map[string]string{}
	for _, e := range at(t, c, "env").([]any) {
		env[at(t, e, "name").(string)] = at(t, e, "value").(string)
	}
	if credDir == "" || env["CREDENTIALS_DIRECTORY"] != credDir {
		t.Fatalf("the Secret is mounted at %q, CREDENTIALS_DIRECTORY is %q", credDir, env["CREDENTIALS_DIRECTORY"])
	}

	// The pods' view: the Secret's keys as files, the ConfigMap's file.
	creds := t.TempDir()
	for k, v := range at(t, sec, "stringData").(map[string]any) {
		if err := os.WriteFile(filepath.Join(creds, k), []byte(v.(string)+strings.Repeat("x", 32)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data := at(t, cm, "data", "licensync.yaml").(string)
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "licensync.yaml"), []byte(data), config.Options{LookupEnv: func(k string) (string, bool) {
		if k == "CREDENTIALS_DIRECTORY" {
			return creds, true
		}
		return "", false
	}})
	if err != nil {
		t.Fatalf("the ConfigMap's configuration does not validate with the Secret's files: %v", err)
	}
	if !strings.HasPrefix(cfg.State, "postgres://") {
		t.Errorf("state %q: two replicas need the PostgreSQL state store", cfg.State)
	}
	if !strings.HasSuffix(cfg.Daemon.Listen, fmt.Sprint(":", port)) || strings.HasPrefix(cfg.Daemon.Listen, "127.") {
		t.Errorf("daemon.listen %q, the probes look on the pod's port %v", cfg.Daemon.Listen, port)
	}
	// Every file: reference names a key of the Secret.
	for _, m := range regexp.MustCompile(`file:([\w.-]+)`).FindAllStringSubmatch(data, -1) {
		if _, ok := at(t, sec, "stringData").(map[string]any)[m[1]]; !ok {
			t.Errorf("the configuration reads file:%s, which the Secret lacks", m[1])
		}
	}
}

// TestTheImageIsStaticNonRootAndServes reads the Dockerfile's final stage.
func TestTheImageIsStaticNonRootAndServes(t *testing.T) {
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var build, final []string
	stage := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			stage++
		}
		if stage == 1 {
			build = append(build, line)
		} else {
			final = append(final, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	has := func(lines []string, prefix string) bool {
		return slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, prefix) })
	}
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{"the binary is built without cgo", build, "RUN CGO_ENABLED=0 go build"},
		{"the final stage carries CA certificates and runs as nonroot", final, "FROM gcr.io/distroless/static-debian12:nonroot"},
		{"the process runs as the nonroot user", final, "USER 65532"},
		{"the state directory is a volume", final, "VOLUME /var/lib/licensync"},
		{"secrets come from the mounted Secret", final, "ENV CREDENTIALS_DIRECTORY=/run/secrets/licensync"},
		{"serve is the default command", final, `CMD ["serve"`},
	}
	for _, tc := range tests {
		if !has(tc.lines, tc.want) {
			t.Errorf("%s: no line starting %q", tc.name, tc.want)
		}
	}
}
