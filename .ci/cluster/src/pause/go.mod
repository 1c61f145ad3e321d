module gitops-lab.ci/pause

go 1.26.0
