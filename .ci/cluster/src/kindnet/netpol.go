package main

// NetworkPolicy enforcement: sigs.k8s.io/kube-network-policies' controller (pkg/networkpolicy), wired as that
// module's cmd/main.go (v0.8.0) wires it, with the same flags and defaults: nfqueue id 100, fail closed
// (-fail-open=false), AdminNetworkPolicy and BaselineAdminNetworkPolicy off (so no node informer and no
// network-policy-api client), DNS packets handled on PREROUTING (-netfilter-bug-1766-fix=true), the node name
// from the hostname (a hostNetwork pod's hostname is its node's name in kind), metrics on :9080.
//
// On a kernel without nftables' `queue` expression the rules come from nftcompat.go instead (same rules, the xtables
// NFQUEUE target).
//
// What it filters (kube-network-policies v0.8.0 pkg/networkpolicy/controller.go, syncNFTablesRules and
// evaluatePacket): an nftables table `kube-network-policies` (inet) queues to userspace the first packet of each
// connection from or to a local pod some NetworkPolicy selects; packets of established connections, and packets
// sent by a root-owned socket on the node itself (`meta skuid 0 accept`: kubelet probes) are accepted without
// evaluation. A source that is not a pod (the node, or a NodePort client outside the cluster) matches no
// podSelector or namespaceSelector peer, only an ipBlock peer or a rule without `from`.

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	nodeutil "k8s.io/component-helpers/node/util"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
)

var (
	failOpen            = flag.Bool("fail-open", false, "If set, don't drop packets if the controller is not running")
	queueID             = flag.Int("nfqueue-id", 100, "Number of the nfqueue used")
	metricsBindAddress  = flag.String("metrics-bind-address", ":9080", "The IP address and port for the metrics server to serve on")
	hostnameOverride    = flag.String("hostname-override", "", "If non-empty, the name of the Node this runs on (default: the hostname)")
	netfilterBug1766Fix = flag.Bool("netfilter-bug-1766-fix", true, "If set, process DNS packets on the PREROUTING hooks (https://bugzilla.netfilter.org/show_bug.cgi?id=1766)")
)

// runNetworkPolicies runs the controller until it fails; it returns why.
func runNetworkPolicies(config *rest.Config) error {
	nodeName, err := nodeutil.GetHostname(*hostnameOverride)
	if err != nil {
		return fmt.Errorf("node name: %w", err)
	}
	cfg := networkpolicy.Config{
		FailOpen:            *failOpen,
		QueueID:             *queueID,
		NodeName:            nodeName,
		NetfilterBug1766Fix: *netfilterBug1766Fix,
	}
	// As upstream: protobuf for the core types.
	pc := rest.CopyConfig(config)
	pc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	pc.ContentType = "application/vnd.kubernetes.protobuf"
	clientset, err := kubernetes.NewForConfig(pc)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(clientset, 0)
	controller, err := networkpolicy.NewController(
		clientset,
		factory.Networking().V1().NetworkPolicies(),
		factory.Core().V1().Namespaces(),
		factory.Core().V1().Pods(),
		nil, nil, nil, nil,
		cfg,
	)
	if err != nil {
		return fmt.Errorf("creating the network policy controller: %w", err)
	}
	supported, err := nftQueueSupported()
	if err != nil {
		return fmt.Errorf("probing nftables: %w", err)
	}
	ctx := context.Background()
	if supported {
		log.Printf("network policies: kube-network-policies' own nftables rules (queue %d)", cfg.QueueID)
	} else {
		// nftcompat.go: the same rules with the xtables NFQUEUE target; the controller's own sync keeps failing
		// (and logging it) on this kernel, and changes nothing.
		log.Printf("network policies: this kernel has no nftables queue expression (nft_queue): the stand-in "+
			"installs kube-network-policies' rules with the xtables NFQUEUE target (table %s)", compatTable)
		rules, err := newCompatRules(factory, nodeName, cfg.QueueID, cfg.FailOpen, cfg.NetfilterBug1766Fix)
		if err != nil {
			return err
		}
		go rules.run(ctx)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.Handler())
	go func() { _ = http.ListenAndServe(*metricsBindAddress, mux) }()
	factory.Start(ctx.Done())
	return controller.Run(ctx)
}
