/*
 * test_liveness.c - a peer is reclaimed only when it provably can never
 * write to the pool again. Each test sets up one of the ordinary setups in
 * which judging by pid went wrong (pid and time namespaces, a hidden /proc,
 * a main thread that leaves, exec, fork) and asserts the kernel lock's
 * verdict. The holders are vmshm-test-helper processes, some started under
 * unshare(1) or setpriv(1) (the tests run as root).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

struct judged {
	int n, yes, no, unknown;
	char why[64];
};

static int count_peer(const struct vmshm_peerinfo *pi, void *arg)
{
	struct judged *j = arg;
	if ((int)pi->index == j->n)
		return 0; /* ourselves */
	j->yes += pi->liveness == VMSHM_LIVE_YES;
	j->no += pi->liveness == VMSHM_LIVE_NO;
	j->unknown += pi->liveness == VMSHM_LIVE_UNKNOWN;
	memcpy(j->why, pi->why, sizeof(j->why));
	return 0;
}

/* How P judges the other peers. */
static struct judged judge_all(vmshm_pool *p)
{
	struct judged j = {.n = vmshm_self(p)};
	cr_assert_geq(vmshm_peers(p, count_peer, &j), 0);
	return j;
}

/* The holder of NAME is alive: kept; then killed: reclaimed, all clean. */
static void alive_then_gone(struct proc *holder, const char *name)
{
	struct vmshm_objinfo info;
	vmshm_pool *p = tp_attach_quiet();
	cr_assert_eq(vmshm_reclaim(p), 0, "a live holder was reclaimed");
	cr_assert_eq(tp_find(name, &info), 1, "the live holder's object is gone");
	struct judged j = judge_all(p);
	cr_assert_eq(j.yes, 1, "the live holder is not judged alive (%s)", j.why);
	cr_assert_str_eq(j.why, "lock held");
	proc_finish(holder);
	cr_assert_eq(tp_reclaim_until(p, 1), 1, "the killed holder was not reclaimed");
	cr_assert_eq(tp_find(name, &info), 0);
	cr_assert_eq(check_pool(p, name), 0);
	vmshm_detach(p);
	cr_assert_eq(tp_stats().free_bytes, tp.empty.free_bytes);
	cr_assert_eq(tp_stats().peers, 0);
}

Test(liveness, pid_namespace_holder, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	const char *argv[] = {"unshare", "-p",         "-f", "--mount-proc", "--kill-child", "@",
			      "hold",    "held-pidns", NULL};
	struct proc h = proc_start(argv, NULL);
	proc_expect_held(&h);
	alive_then_gone(&h, "held-pidns");
}

Test(liveness, pid_namespace_without_proc, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	const char *argv[] = {"unshare", "-p",   "-f",          "--kill-child",
			      "@",       "hold", "held-noproc", NULL};
	struct proc h = proc_start(argv, NULL);
	proc_expect_held(&h);
	alive_then_gone(&h, "held-noproc");
}

Test(liveness, root_holder_seen_from_pid_namespace, .init = tp_setup, .fini = tp_teardown,
     .timeout = 60)
{
	const char *hold[] = {"@", "hold", "held-root", NULL};
	const char *judge[] = {"unshare", "-p", "-f", "--mount-proc", "@", "reclaim", NULL};
	struct vmshm_objinfo info;
	struct proc h = proc_start(hold, NULL);
	proc_expect_held(&h);
	const char *out = proc_run(judge, NULL);
	cr_assert_neq(strstr(out, "reclaimed=0\n"), NULL, "%s", out);
	cr_assert_neq(strstr(out, "live=1 why=lock held"), NULL, "%s", out);
	cr_assert_eq(tp_find("held-root", &info), 1);
	alive_then_gone(&h, "held-root");
}

Test(liveness, time_namespace, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	const char *hold[] = {"unshare",      "-T", "--boottime", "100000",    "--fork",
			      "--kill-child", "@",  "hold",       "held-time", NULL};
	const char *judge[] = {"unshare", "-T", "--boottime", "100000",
			       "--fork",  "@",  "reclaim",    NULL};
	struct proc h = proc_start(hold, NULL);
	proc_expect_held(&h);
	const char *out = proc_run(judge, NULL);
	cr_assert_neq(strstr(out, "reclaimed=0\n"), NULL, "%s", out);
	alive_then_gone(&h, "held-time");
}

/* /proc mounted hidepid=invisible (systemd's ProtectProc=invisible): an
 * unprivileged peer cannot see the root-owned holder's process. */
Test(liveness, hidden_proc, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	char script[PATH_MAX + 256];
	const char *hold[] = {"@", "hold", "held-hidden", NULL};
	const char *judge[] = {"unshare", "-m", "sh", "-c", script, NULL};
	cr_assert_eq(chmod(tp.path, 0666), 0);
	snprintf(script, sizeof(script),
		 "mount -t proc -o hidepid=invisible proc /proc && "
		 "exec setpriv --reuid=65534 --regid=65534 --clear-groups %s reclaim",
		 helper_path());
	struct proc h = proc_start(hold, NULL);
	proc_expect_held(&h);
	const char *out = proc_run(judge, NULL);
	cr_assert_neq(strstr(out, "reclaimed=0\n"), NULL, "%s", out);
	cr_assert_neq(strstr(out, "live=1 why=lock held"), NULL, "%s", out);
	alive_then_gone(&h, "held-hidden");
}

Test(liveness, main_thread_exits, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	const char *hold[] = {"@", "hold-thread-exit", "held-thread", NULL};
	struct proc h = proc_start(hold, NULL);
	proc_expect_held(&h);
	usleep(200000); /* the main thread is gone by now; a worker lives */
	alive_then_gone(&h, "held-thread");
}

/* A peer that execs another program can never write again: its lock goes
 * with the close-on-exec descriptor and the mapping. */
Test(liveness, exec_ends_the_peer, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	const char *hold[] = {"@", "hold-exec", "held-exec", NULL};
	struct vmshm_objinfo info;
	struct proc h = proc_start(hold, NULL);
	proc_expect_held(&h);
	vmshm_pool *p = tp_attach_quiet();
	cr_assert_eq(tp_reclaim_until(p, 1), 1, "a peer that exec'd was not reclaimed");
	cr_assert_eq(kill(h.pid, 0), 0, "the exec'd program is not running");
	cr_assert_eq(tp_find("held-exec", &info), 0);
	cr_assert_eq(check_pool(p, "exec"), 0);
	vmshm_detach(p);
	proc_finish(&h);
	cr_assert_eq(tp_stats().free_bytes, tp.empty.free_bytes);
}

/* fork() while other threads are inside RtApi calls: every child's exit()
 * returns (the exit handler never waits for a lock held at fork time). */
Test(liveness, fork_children_exit, .init = tp_setup, .fini = tp_teardown, .timeout = 100)
{
	const char *argv[] = {"@", "fork-exit", "40", NULL};
	const char *out = proc_run(argv, NULL);
	cr_assert_str_eq(out, "hung=0 of 40\n");
	vmshm_pool *p = tp_attach_quiet();
	vmshm_reclaim(p);
	cr_assert_eq(check_pool(p, "fork"), 0);
	vmshm_detach(p);
	cr_assert_eq(tp_stats().objects, 0);
}
