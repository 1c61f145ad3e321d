// Command trivy-testdb writes a tiny but real Trivy vulnerability database (schema v2, the format of
// ghcr.io/aquasecurity/trivy-db:2) holding ONE synthetic advisory, so that the pinned trivy can scan a real image
// on a machine that cannot download the real database. Written with trivy-db's own writer (pkg/db: Init,
// BatchUpdate, PutAdvisoryDetail, PutVulnerability, PutDataSource, SaveAdvisoryDetails, DeleteAdvisoryDetailBucket) at the version trivy
// v0.74.0's go.mod requires, plus the metadata.json trivy checks before a `--skip-db-update` scan
// (trivy v0.74.0 pkg/db/db.go NeedsUpdate/validate: Version must equal the schema version).
//
//	trivy-testdb -cache-dir DIR -release "debian 12" -package openssl -id CVE-2099-0001 \
//	    -fixed 3.0.99-1~deb12u1 -severity CRITICAL
//
// writes DIR/db/trivy.db and DIR/db/metadata.json; then `trivy image --cache-dir DIR --skip-db-update
// --offline-scan ...` finds the advisory in every image whose Debian 12 source package PACKAGE is older than FIXED.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/aquasecurity/trivy-db/pkg/types"
)

func main() {
	cacheDir := flag.String("cache-dir", "", "trivy --cache-dir to write (the database goes to DIR/db)")
	release := flag.String("release", "debian 12", "advisory bucket: OS family and major version")
	pkg := flag.String("package", "", "source package name the advisory is for")
	id := flag.String("id", "", "vulnerability ID")
	fixed := flag.String("fixed", "", "first fixed version")
	severity := flag.String("severity", "CRITICAL", "UNKNOWN, LOW, MEDIUM, HIGH or CRITICAL")
	title := flag.String("title", "synthetic advisory of the GitOps Lab test database", "title")
	flag.Parse()
	if *cacheDir == "" || *pkg == "" || *id == "" || *fixed == "" {
		fmt.Fprintln(os.Stderr, "usage: trivy-testdb -cache-dir DIR -package NAME -id ID -fixed VERSION [-severity S]")
		os.Exit(2)
	}
	if err := write(*cacheDir, *release, *pkg, *id, *fixed, *severity, *title); err != nil {
		fmt.Fprintln(os.Stderr, "trivy-testdb:", err)
		os.Exit(1)
	}
}

func write(cacheDir, release, pkg, id, fixed, severity, title string) error {
	sev, err := types.NewSeverity(severity)
	if err != nil {
		return err
	}
	dbDir := filepath.Join(cacheDir, "db")
	if err := os.MkdirAll(dbDir, 0o700); err != nil {
		return err
	}
	if err := db.Init(dbDir); err != nil {
		return err
	}
	dbc := db.Config{}
	err = dbc.BatchUpdate(func(tx *bolt.Tx) error {
		if err := dbc.PutDataSource(tx, release, types.DataSource{
			ID: "debian", Name: "Debian Security Tracker (synthetic: GitOps Lab test database)",
			URL: "https://salsa.debian.org/security-tracker-team/security-tracker",
		}); err != nil {
			return err
		}
		if err := dbc.PutAdvisoryDetail(tx, id, pkg, []string{release}, types.Advisory{FixedVersion: fixed}); err != nil {
			return err
		}
		if err := dbc.PutVulnerability(tx, id, types.Vulnerability{
			Title:          title,
			Description:    "Not a real vulnerability: written by .ci/trivy-testdb so that a real scan has a finding.",
			Severity:       sev.String(),
			VendorSeverity: types.VendorSeverity{"debian": sev, "nvd": sev},
		}); err != nil {
			return err
		}
		return dbc.SaveAdvisoryDetails(tx, id)
	})
	if err != nil {
		return err
	}
	// As trivy-db's own build does after copying the details into the vendors' buckets (pkg/vulnsrc, cmd/trivy-db).
	if err := dbc.DeleteAdvisoryDetailBucket(); err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	now := time.Now().UTC()
	return metadata.NewClient(dbDir).Update(metadata.Metadata{
		Version:      db.SchemaVersion,
		NextUpdate:   now.Add(24 * time.Hour),
		UpdatedAt:    now,
		DownloadedAt: now,
	})
}
