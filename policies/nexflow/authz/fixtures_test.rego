# Shared inputs for the authz tests: a well-formed call that each test bends one way.
package nexflow.authz_test

workspace := "/home/me/workspace"

call_input(roles, permissions) := {
	"principal": {"id": "alice", "roles": roles, "channel": "http"},
	"skill": {
		"name": "file-read",
		"version": "1.0.0",
		"digest": "sha256:00",
		"publisher": "nexflow",
		"source": "builtin",
		"permissions": permissions,
		"runtime": "python",
		"tags": ["files"],
	},
	"call": {"id": "c_1", "input_sha256": "00", "paths": []},
	"context": {
		"workspace": workspace, "time": "2026-11-21T10:00:00Z", "approved": false,
		"rate": {"minute": 0, "hour": 0}, "skill_runs": 3,
	},
}

user_input := call_input(["user"], [])

with_skill(base, patch) := object.union(base, {"skill": object.union(base.skill, patch)})

with_call_hosts(base, hosts) := object.union(base, {"call": object.union(base.call, {"hosts": hosts})})

with_call_paths(base, paths) := object.union(base, {"call": object.union(base.call, {"paths": paths})})

codes(decision) := {r.code | some r in decision.reasons}
