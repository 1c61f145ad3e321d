// A stand-in for kind's kindnetd (sigs.k8s.io/kind/images/kindnetd), whose source is a nested module of the
// kind repository that the Go module proxy reachable from CI does not serve. It keeps the contract kind's
// default CNI manifest (kind pkg/build/nodeimage/const_cni.go) relies on, for IPv4 clusters:
//   - it runs as the `kindnet` DaemonSet (hostNetwork, env HOST_IP and POD_SUBNET, /etc/cni/net.d mounted);
//   - it finds its node by HOST_IP, waits for the node's spec.podCIDRs and writes
//     /etc/cni/net.d/10-kindnet.conflist: ptp + host-local over the node's pod CIDRs, then portmap (the CNI
//     plugins kind's base image installs in /opt/cni/bin);
//   - it routes every other node's pod CIDRs via that node's InternalIP;
//   - it enforces NetworkPolicy as kindnetd does since kind v0.24.0 (kubernetes-sigs/kind PR #3612; the manifest
//     grants kindnet list/watch on networking.k8s.io networkpolicies, pods and namespaces): it embeds the
//     networkpolicy controller of sigs.k8s.io/kube-network-policies (netpol.go), wired as that module's
//     cmd/main.go wires it, with its defaults (nfqueue 100, fail closed, no AdminNetworkPolicy).
//
// Unlike kindnetd it masquerades with the ptp plugin's ipMasq (traffic leaving the node's pod range is SNATed)
// instead of running its own ip-masq agent.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const confPath = "/etc/cni/net.d/10-kindnet.conflist"

func conflist(podCIDRs []string) ([]byte, error) {
	ranges := make([][]map[string]string, 0, len(podCIDRs))
	for _, c := range podCIDRs {
		ranges = append(ranges, []map[string]string{{"subnet": c}})
	}
	conf := map[string]any{
		"cniVersion": "0.3.1",
		"name":       "kindnet",
		"plugins": []any{
			map[string]any{
				"type":   "ptp",
				"ipMasq": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": "/run/cni-ipam-state",
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"ranges":  ranges,
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

func internalIP(n *corev1.Node) net.IP {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			if ip := net.ParseIP(a.Address); ip != nil && ip.To4() != nil {
				return ip
			}
		}
	}
	return nil
}

func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	tmp := filepath.Join(filepath.Dir(path), ".10-kindnet.conflist.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	log.Printf("writing %s", path)
	return os.Rename(tmp, path)
}

func sync(ctx context.Context, cs kubernetes.Interface, hostIP net.IP) error {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		ip := internalIP(n)
		cidrs := n.Spec.PodCIDRs
		if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
			cidrs = []string{n.Spec.PodCIDR}
		}
		if ip == nil || len(cidrs) == 0 {
			continue
		}
		if ip.Equal(hostIP) {
			data, err := conflist(cidrs)
			if err != nil {
				return err
			}
			if err := writeIfChanged(confPath, data); err != nil {
				return err
			}
			continue
		}
		for _, c := range cidrs {
			_, dst, err := net.ParseCIDR(c)
			if err != nil || dst.IP.To4() == nil {
				continue
			}
			route := &netlink.Route{Dst: dst, Gw: ip}
			if err := netlink.RouteReplace(route); err != nil {
				return fmt.Errorf("route %s via %s: %w", dst, ip, err)
			}
		}
	}
	return nil
}

func main() {
	flag.Parse()
	hostIP := net.ParseIP(os.Getenv("HOST_IP"))
	if hostIP == nil {
		log.Fatal("HOST_IP is not set to an IP address")
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		log.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("kindnet stand-in: node %s, pod subnet %s", hostIP, os.Getenv("POD_SUBNET"))
	go func() {
		// Network policies are enforced for as long as the stand-in runs: if the controller stops, exit, so the
		// kubelet restarts the pod (packets queued meanwhile are dropped: upstream's fail-open is off).
		log.Fatalf("network policy controller stopped: %v", runNetworkPolicies(cfg))
	}()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := sync(ctx, cs, hostIP); err != nil {
			log.Printf("sync: %v", err)
		}
		cancel()
		time.Sleep(10 * time.Second)
	}
}
