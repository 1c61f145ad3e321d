package main

import (
	"net/netip"
	"os"
	"testing"

	"github.com/google/nftables"
)

// Needs root in a network namespace of its own, e.g.
//   go test -c -o /tmp/kindnet.test . && ip netns add t && ip netns exec t env KINDNET_NFT_TEST=1 /tmp/kindnet.test; ip netns del t
func TestCompatRulesLoadIntoTheKernel(t *testing.T) {
	if os.Getenv("KINDNET_NFT_TEST") != "1" {
		t.Skip("KINDNET_NFT_TEST=1 (root, in a throwaway network namespace) loads the rules into the kernel")
	}
	r := &compatRules{queueID: 100, dnsFix: true}
	if err := r.sync([]netip.Addr{netip.MustParseAddr("10.244.0.5"), netip.MustParseAddr("fd00::5")}); err != nil {
		t.Fatal(err)
	}
	nft, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	table := &nftables.Table{Name: compatTable, Family: nftables.TableFamilyINet}
	post, err := nft.GetRules(table, &nftables.Chain{Name: "postrouting", Table: table})
	if err != nil || len(post) != 8 {
		t.Fatalf("postrouting: %d rules, %v (want 8)", len(post), err)
	}
	pre, err := nft.GetRules(table, &nftables.Chain{Name: "prerouting", Table: table})
	if err != nil || len(pre) != 6 {
		t.Fatalf("prerouting: %d rules, %v (want 6)", len(pre), err)
	}
	set, err := nft.GetSetByName(table, "podips-v4")
	if err != nil {
		t.Fatal(err)
	}
	elems, err := nft.GetSetElements(set)
	if err != nil || len(elems) != 1 {
		t.Fatalf("podips-v4: %v, %v", elems, err)
	}
	if ok, err := nftQueueSupported(); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("nft queue expression supported: %v", ok)
	}
	r.clean()
}
