package main

func init() {
	registerPlanCommand("ab", "plans/ab-fs.yaml", "A/B test XFS vs EXT4 (plans/ab-fs.yaml, or -plan): tables and guide under -out")
}
