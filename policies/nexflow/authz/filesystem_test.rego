package nexflow.authz_test

import data.nexflow.authz

fs_input(requests, paths) := with_call_paths(
	with_skill(call_input(["user"], ["filesystem"]), {"filesystem": requests}),
	paths,
)

path(resolved, access) := {"field": "path", "value": "x", "resolved": resolved, "access": access}

test_workspace_request_is_granted_as_asked if {
	d := authz.decision with input as fs_input([{"path": workspace, "mode": "rw"}], [])
	d.allow
	d.grants.filesystem == [{"path": workspace, "mode": "rw"}]
}

test_subdirectory_request_is_granted if {
	d := authz.decision with input as fs_input([{"path": "/home/me/workspace/notes", "mode": "ro"}], [])
	d.grants.filesystem == [{"path": "/home/me/workspace/notes", "mode": "ro"}]
}

test_rw_request_under_ro_root_is_downgraded if {
	d := authz.decision with input as fs_input([{"path": workspace, "mode": "rw"}], [])
		with data.nexflow.config.filesystem.roots as [{"path": "${workspace}", "mode": "ro"}]
	d.allow
	d.grants.filesystem == [{"path": workspace, "mode": "ro"}]
}

test_request_outside_roots_is_denied if {
	d := authz.decision with input as fs_input([{"path": "/etc", "mode": "ro"}], [])
	codes(d) == {"filesystem_not_allowed"}
}

test_sibling_prefix_request_is_denied if {
	d := authz.decision with input as fs_input([{"path": "/home/me/workspace-evil", "mode": "ro"}], [])
	codes(d) == {"filesystem_not_allowed"}
}

test_root_that_is_not_normalized_is_ignored if {
	roots := [{"path": "${workspace}/../..", "mode": "rw"}]
	authz._roots == set() with input as user_input with data.nexflow.config.filesystem.roots as roots
}

test_slash_root_contains_everything if {
	authz._within("/etc/shadow", "/")
}

test_call_path_inside_grant_is_allowed if {
	d := authz.decision with input as fs_input([{"path": workspace, "mode": "ro"}], [path("/home/me/workspace/a.txt", "read")])
	d.allow
}

test_call_path_is_the_grant_itself if {
	d := authz.decision with input as fs_input([{"path": workspace, "mode": "ro"}], [path(workspace, "read")])
	d.allow
}

test_call_path_etc_shadow_is_denied if {
	d := authz.decision with input as fs_input([{"path": workspace, "mode": "rw"}], [path("/etc/shadow", "read")])
	codes(d) == {"path_outside_grant"}
}

test_call_path_refusal_names_the_path_as_given_not_where_it_resolves if {
	p := {"field": "path", "value": "link.txt", "resolved": "/home/me/secret/key", "access": "read"}
	d := authz.decision with input as fs_input([{"path": workspace, "mode": "ro"}], [p])
	d.reasons[0].message == "input field path: link.txt is outside the granted directories for read"
	not contains(d.reasons[0].message, "/home/me")
}

test_call_path_sibling_prefix_is_denied if {
	p := path("/home/me/workspace-evil/x", "read")
	d := authz.decision with input as fs_input([{"path": workspace, "mode": "rw"}], [p])
	codes(d) == {"path_outside_grant"}
}

test_write_under_ro_grant_is_denied if {
	p := path("/home/me/workspace/a.txt", "write")
	d := authz.decision with input as fs_input([{"path": workspace, "mode": "ro"}], [p])
	codes(d) == {"path_outside_grant"}
}

test_write_under_rw_grant_is_allowed if {
	p := path("/home/me/workspace/a.txt", "write")
	d := authz.decision with input as fs_input([{"path": workspace, "mode": "rw"}], [p])
	d.allow
}

test_call_path_without_any_grant_is_denied if {
	d := authz.decision with input as fs_input([], [path("/home/me/workspace/a.txt", "read")])
	codes(d) == {"path_outside_grant"}
}
