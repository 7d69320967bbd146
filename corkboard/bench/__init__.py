"""`corkboard bench`: the service under load and its parts against the targets of DESIGN.md section 5."""
