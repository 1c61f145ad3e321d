package main

// kube-network-policies diverts packets to its nfqueue with nftables' `queue` expression (nft_queue,
// CONFIG_NFT_QUEUE). Some kernels lack it, though they have NFQUEUE itself and nftables' xtables compatibility
// (CONFIG_NETFILTER_NETLINK_QUEUE, CONFIG_NETFILTER_XT_TARGET_NFQUEUE, CONFIG_NFT_COMPAT): the CI VMs' 6.18
// kernel is one. There the controller's own nftables transaction fails as a whole ("netlink receive: no such file
// or directory"), so nothing is diverted and nothing is enforced. On such a kernel the stand-in installs the same
// rules itself, with the xtables NFQUEUE target in place of the `queue` expression, in a table of its own; the
// controller still opens the queue and judges every packet.
//
// The rules are those of kube-network-policies v0.8.0 pkg/networkpolicy/controller.go (syncNFTablesRules and
// addDNSRacersWorkaroundRules, without AdminNetworkPolicy), Apache-2.0, The Kubernetes Authors: the local pods
// some NetworkPolicy selects, in sets; on POSTROUTING (before SNAT) accept UDP 53 (handled on PREROUTING), IPv6
// ICMP, packets of sockets owned by root on the node (`meta skuid 0`: the kubelet's probes) and established or
// related connections, and queue what comes from or goes to a pod of the sets; on PREROUTING (after DNAT) queue
// UDP 53 from or to those pods.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"net/netip"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
)

const (
	compatTable   = "kindnet-network-policies"
	probeTable    = "kindnet-nft-queue-probe"
	nfqFlagBypass = 0x01 // linux include/uapi/linux/netfilter/xt_NFQUEUE.h NFQ_FLAG_BYPASS
)

// nftQueueSupported tells whether the kernel accepts nftables' `queue` expression, with a throwaway table.
func nftQueueSupported() (bool, error) {
	nft, err := nftables.New()
	if err != nil {
		return false, err
	}
	t := &nftables.Table{Name: probeTable, Family: nftables.TableFamilyINet}
	nft.AddTable(t)
	ch := nft.AddChain(&nftables.Chain{Name: "probe", Table: t})
	nft.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{&expr.Queue{Num: 1}}})
	err = nft.Flush()
	// The kernel's ENOENT for an unknown expression; google/nftables may hand it on as text only.
	if err != nil && (errors.Is(err, unix.ENOENT) || strings.Contains(err.Error(), "no such file or directory")) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	nft.DelTable(t)
	return true, nft.Flush()
}

type compatRules struct {
	policies networkinglisters.NetworkPolicyLister
	pods     corelisters.PodLister
	synced   []cache.InformerSynced
	nodeName string
	queueID  uint16
	failOpen bool
	dnsFix   bool
	kick     chan struct{}
}

func newCompatRules(factory informers.SharedInformerFactory, nodeName string, queueID int, failOpen, dnsFix bool) (*compatRules, error) {
	pi := factory.Core().V1().Pods()
	ni := factory.Networking().V1().NetworkPolicies()
	r := &compatRules{
		policies: ni.Lister(),
		pods:     pi.Lister(),
		synced:   []cache.InformerSynced{pi.Informer().HasSynced, ni.Informer().HasSynced},
		nodeName: nodeName,
		queueID:  uint16(queueID),
		failOpen: failOpen,
		dnsFix:   dnsFix,
		kick:     make(chan struct{}, 1),
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { r.poke() },
		UpdateFunc: func(any, any) { r.poke() },
		DeleteFunc: func(any) { r.poke() },
	}
	for _, inf := range []cache.SharedIndexInformer{pi.Informer(), ni.Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *compatRules) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// run keeps the rules in line with the policies and pods until ctx ends, then removes the table.
func (r *compatRules) run(ctx context.Context) {
	if !cache.WaitForCacheSync(ctx.Done(), r.synced...) {
		return
	}
	defer r.clean()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	last := ""
	for {
		ips := r.localPodIPs()
		key := fmt.Sprint(ips)
		if key != last {
			if err := r.sync(ips); err != nil {
				log.Printf("network policies: nftables (compat NFQUEUE): %v", err)
			} else {
				log.Printf("network policies: nftables table %s: %d local pod IP(s) diverted to nfqueue %d",
					compatTable, len(ips), r.queueID)
				last = key
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
			time.Sleep(100 * time.Millisecond) // gather a burst of events into one transaction
		case <-tick.C:
		}
	}
}

// localPodIPs: the IPs of this node's pods that some NetworkPolicy selects (kube-network-policies
// getLocalPodsForNetworkPolicy, over every policy).
func (r *compatRules) localPodIPs() []netip.Addr {
	policies, err := r.policies.List(labels.Everything())
	if err != nil {
		return nil
	}
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for _, np := range policies {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			continue
		}
		pods, err := r.pods.Pods(np.Namespace).List(sel)
		if err != nil {
			continue
		}
		for _, pod := range pods {
			if pod.Spec.NodeName != r.nodeName {
				continue
			}
			for _, ip := range pod.Status.PodIPs {
				if a, err := netip.ParseAddr(ip.IP); err == nil && !seen[a] {
					seen[a] = true
					out = append(out, a)
				}
			}
		}
	}
	return out
}

func (r *compatRules) queue() expr.Any {
	info := make([]byte, 6) // struct xt_NFQ_info_v3 {__u16 queuenum, queues_total, flags}, host byte order
	binary.NativeEndian.PutUint16(info[0:], r.queueID)
	binary.NativeEndian.PutUint16(info[2:], 1)
	if r.failOpen {
		binary.NativeEndian.PutUint16(info[4:], nfqFlagBypass)
	}
	u := xt.Unknown(info)
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &u}
}

func (r *compatRules) sync(ips []netip.Addr) error {
	nft, err := nftables.New()
	if err != nil {
		return err
	}
	table := &nftables.Table{Name: compatTable, Family: nftables.TableFamilyINet}
	nft.AddTable(table) // add + delete + add: the table is replaced as a whole, in one transaction
	nft.DelTable(table)
	nft.AddTable(table)
	v4 := &nftables.Set{Table: table, Name: "podips-v4", KeyType: nftables.TypeIPAddr}
	v6 := &nftables.Set{Table: table, Name: "podips-v6", KeyType: nftables.TypeIP6Addr}
	var e4, e6 []nftables.SetElement
	for _, a := range ips {
		if a.Is4() {
			e4 = append(e4, nftables.SetElement{Key: a.AsSlice()})
		} else {
			e6 = append(e6, nftables.SetElement{Key: a.AsSlice()})
		}
	}
	if err := nft.AddSet(v4, e4); err != nil {
		return err
	}
	if err := nft.AddSet(v6, e6); err != nil {
		return err
	}
	post := nft.AddChain(&nftables.Chain{
		Name: "postrouting", Table: table, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookPostrouting,
		Priority: nftables.ChainPriorityRef(*nftables.ChainPriorityNATSource - 5),
	})
	add := func(ch *nftables.Chain, exprs ...expr.Any) {
		nft.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: exprs})
	}
	accept := &expr.Verdict{Kind: expr.VerdictAccept}
	l4 := &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}
	dport := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
	port53 := binaryutil.BigEndian.PutUint16(53)
	if r.dnsFix { // udp dport 53 accept: DNS is judged on PREROUTING
		add(post, l4, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}}, dport,
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: port53}, accept)
	}
	add(post, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV6}}, l4,
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}}, accept)
	add(post, &expr.Meta{Key: expr.MetaKeySKUID, Register: 1}, // meta skuid 0 accept
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 0, 0, 0}}, accept)
	add(post, &expr.Ct{Register: 1, Key: expr.CtKeySTATE}, // ct state established,related accept
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}}, accept)
	queueFromTo := func(ch *nftables.Chain) {
		for _, m := range []struct {
			proto        byte
			set          string
			saddr, daddr uint32
			size         uint32
		}{{unix.NFPROTO_IPV4, v4.Name, 12, 16, 4}, {unix.NFPROTO_IPV6, v6.Name, 8, 24, 16}} {
			for _, off := range []uint32{m.saddr, m.daddr} {
				add(ch, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{m.proto}},
					&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: m.size},
					&expr.Lookup{SourceRegister: 1, SetName: m.set}, r.queue())
			}
		}
	}
	queueFromTo(post)
	if r.dnsFix {
		pre := nft.AddChain(&nftables.Chain{
			Name: "prerouting", Table: table, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookPrerouting,
			Priority: nftables.ChainPriorityRef(*nftables.ChainPriorityNATDest + 5),
		})
		add(pre, l4, &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{unix.IPPROTO_UDP}}, accept)
		add(pre, l4, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}}, dport,
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: port53}, accept)
		queueFromTo(pre)
	}
	return nft.Flush()
}

func (r *compatRules) clean() {
	nft, err := nftables.New()
	if err != nil {
		return
	}
	nft.DelTable(&nftables.Table{Name: compatTable, Family: nftables.TableFamilyINet})
	_ = nft.Flush()
}
