/*
 * dbclient.c - drives `vmshm serve` from the peer side of the ivshmem
 * doorbell protocol, as QEMU's ivshmem-doorbell device does.
 *
 *   dbclient SOCKET POOL VECTORS
 *
 * A server must be listening on SOCKET for POOL with VECTORS vectors and no
 * client yet. Prints "ok - ..." or "not ok - ..." for each check; exits 1 if
 * any failed.
 *
 * Scenario: peers A, B, C connect (IDs 0, 1, 2) and must receive the
 * version, their ID, the pool's fd and every peer's eventfds; each rings each
 * other on every vector. "QEMU" D connects (ID 3) and a "guest" process
 * attaches the pool as that VM (VMSHM_IVPOSITION=3), creates a region and
 * opens a shared one, then stays alive (stopped): D's socket closes abruptly;
 * the others must get the disconnect and the server must reclaim the guest's
 * peer although its process lives. A garbage client is dropped; a client that
 * never reads does not hold up 150 others; one that vanishes mid-handshake
 * does no harm; a later peer still rings and is rung.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmshm.h"

#define MAXV  8
#define MAXID 256
#define CHURN 150 /* clients that come and go past a non-reader */

static int passed, failed;

static void check(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", cond ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (cond)
		passed++;
	else
		failed++;
}

struct peer {
	int sock;
	int64_t id;
	int shm;
	int own[MAXV];
	int nown;
	int other[MAXID][MAXV];
	int nother[MAXID];
	int connects[MAXID]; /* connect notices seen (fds received) */
	int gone[MAXID];     /* disconnect notices seen */
	int eof;
	int bad; /* a message that breaks the protocol */
};

static const char *sock_path, *pool_path;
static int nvec;

static int connect_sock(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		exit(1);
	}
	return fd;
}

/* One message: 1 got, 0 timed out, -1 EOF or error. */
static int recv_msg(int sock, int64_t *val, int *fd, int timeout_ms)
{
	unsigned char buf[8];
	size_t got = 0;

	*fd = -1;
	while (got < 8) {
		struct pollfd p = {.fd = sock, .events = POLLIN};
		union {
			struct cmsghdr h;
			char space[CMSG_SPACE(sizeof(int) * 4)];
		} ctl;
		struct iovec iov = {buf + got, 8 - got};
		struct msghdr mh = {0};
		struct cmsghdr *cm;
		ssize_t n;

		if (poll(&p, 1, got ? 2000 : timeout_ms) <= 0)
			return got ? -1 : 0;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.space;
		mh.msg_controllen = sizeof(ctl.space);
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return -1;
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
				memcpy(fd, CMSG_DATA(cm), sizeof(int));
		got += (size_t)n;
	}
	*val = 0;
	for (int i = 7; i >= 0; i--)
		*val = (int64_t)((uint64_t)*val << 8 | buf[i]);
	return 1;
}

/* Reads the three setup messages; checks them one by one if LOUD, else
 * returns whether all held. */
static int handshake(struct peer *p, int64_t want_id, int loud)
{
	int64_t v[3];
	int fd[3], ok = 1, r[4];
	struct stat a, b;

	memset(p, 0, sizeof(*p));
	p->sock = connect_sock();
	for (int i = 0; i < 3; i++)
		if (recv_msg(p->sock, &v[i], &fd[i], 3000) != 1)
			ok = 0;
	p->id = v[1];
	p->shm = fd[2];
	r[0] = ok && v[0] == 0 && fd[0] < 0;
	r[1] = ok && v[1] == want_id && fd[1] < 0;
	r[2] = ok && v[2] == -1 && fd[2] >= 0;
	r[3] = ok && fd[2] >= 0 && fstat(fd[2], &a) == 0 && stat(pool_path, &b) == 0 &&
	       a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_size == b.st_size;
	if (!loud)
		return r[0] && r[1] && r[2] && r[3];
	check(r[0], "peer %lld: protocol version 0 without a fd", (long long)want_id);
	check(r[1], "peer %lld: its ID (got %lld)", (long long)want_id, (long long)v[1]);
	check(r[2], "peer %lld: -1 with the shared memory fd", (long long)want_id);
	check(r[3], "peer %lld: the fd is the pool file", (long long)want_id);
	return r[0] && r[1] && r[2] && r[3];
}

/* Takes in every message that arrives within TIMEOUT_MS of the last. */
static void pump(struct peer *p, int timeout_ms)
{
	int64_t v;
	int fd, r;

	while ((r = recv_msg(p->sock, &v, &fd, timeout_ms)) == 1) {
		if (v < 0 || v >= MAXID) {
			p->bad = 1;
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (fd < 0) {
			p->gone[v]++;
			for (int i = 0; i < p->nother[v]; i++)
				close(p->other[v][i]);
			p->nother[v] = 0;
		} else if (v == p->id) {
			if (p->nown < MAXV)
				p->own[p->nown++] = fd;
			else
				p->bad = 1;
		} else {
			if (p->nother[v] == 0)
				p->connects[v]++;
			if (p->nother[v] < MAXV)
				p->other[v][p->nother[v]++] = fd;
			else
				p->bad = 1;
		}
	}
	if (r < 0)
		p->eof = 1;
}

/* Rings vector V of TO from FROM; TO must see exactly that one vector. */
static int ring(struct peer *from, struct peer *to, int v)
{
	uint64_t one = 1, got = 0;
	int ok = 1;

	if (from->nother[to->id] <= v || to->nown <= v)
		return 0;
	if (write(from->other[to->id][v], &one, 8) != 8)
		return 0;
	for (int i = 0; i < to->nown; i++) {
		struct pollfd pf = {.fd = to->own[i], .events = POLLIN};
		int r = poll(&pf, 1, i == v ? 2000 : 0);

		if (i == v) {
			if (r != 1 || read(to->own[i], &got, 8) != 8 || got != 1)
				ok = 0;
		} else if (r != 0) {
			ok = 0;
		}
	}
	return ok;
}

static void ring_all(struct peer **ps, int n, const char *when)
{
	int ok = 1;

	for (int a = 0; a < n; a++)
		for (int b = 0; b < n; b++)
			for (int v = 0; a != b && v < nvec; v++)
				if (!ring(ps[a], ps[b], v)) {
					ok = 0;
					printf("# ring %lld -> %lld vector %d failed\n",
					       (long long)ps[a]->id, (long long)ps[b]->id, v);
				}
	check(ok, "%s: every peer rings every other on each of %d vectors, only that one", when,
	      nvec);
}

static void close_peer(struct peer *p)
{
	close(p->sock);
	close(p->shm);
	for (int i = 0; i < p->nown; i++)
		close(p->own[i]);
	for (int k = 0; k < MAXID; k++)
		for (int i = 0; i < p->nother[k]; i++)
			close(p->other[k][i]);
}

struct find {
	const char *name;
	int found;
	uint64_t holders;
	int32_t ivpos;
	int live_peers;
};

static int find_obj(const struct vmshm_objinfo *o, void *arg)
{
	struct find *f = arg;

	if (o->named && !strcmp(o->name, f->name)) {
		f->found = 1;
		f->holders = o->holders;
	}
	return 0;
}

static int find_peer(const struct vmshm_peerinfo *pi, void *arg)
{
	struct find *f = arg;

	if (pi->ivposition == f->ivpos && pi->state != VMSHM_PEER_FREE)
		f->live_peers++;
	return 0;
}

static int vm_peers(vmshm_pool *pool, int32_t ivpos)
{
	struct find f = {.ivpos = ivpos};

	vmshm_peers(pool, find_peer, &f);
	return f.live_peers;
}

static struct find obj(vmshm_pool *pool, const char *name)
{
	struct find f = {.name = name};

	vmshm_list(pool, find_obj, &f);
	return f;
}

/* The "guest program" of VM ID: attaches as that VM, creates a region,
 * opens the shared one, reports, then waits to be killed. */
static void guest(int id, int report)
{
	char env[16];
	vmshm_pool *pool;
	vmshm_ref a, b;
	char ok = 'n';

	snprintf(env, sizeof(env), "%d", id);
	setenv("VMSHM_IVPOSITION", env, 1);
	/* A guest's process: of another OS instance, which the host cannot judge. */
	setenv("VMSHM_TEST_BOOT_ID", "0b0b0b0b-0000-4000-8000-00000000000d", 1);
	if (vmshm_attach(pool_path, 0, &pool, NULL, 0) == 0 &&
	    vmshm_create(pool, VMSHM_TYPE_SHM, "dbtest-vm-only", 4096, 4, 0, &a) == 0 &&
	    vmshm_open(pool, VMSHM_TYPE_SHM, "dbtest-shared", &b) == 0)
		ok = 'y';
	if (write(report, &ok, 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	static struct peer A, B, C, D, E, N, G, M[CHURN];
	struct peer *abc[4] = {&A, &B, &C, &E};
	vmshm_pool *pool;
	vmshm_ref shared;
	struct find f;
	int pipefd[2], st, ok;
	pid_t pid;
	char c = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: dbclient SOCKET POOL VECTORS\n");
		return 2;
	}
	sock_path = argv[1];
	pool_path = argv[2];
	nvec = atoi(argv[3]);
	if (nvec < 1 || nvec > MAXV)
		return 2;
	signal(SIGPIPE, SIG_IGN);

	/* A, B, C: setup, eventfds, connect notices. */
	handshake(&A, 0, 1);
	pump(&A, 300);
	check(A.nown == nvec && !A.bad, "peer 0: its own %d eventfds", nvec);
	handshake(&B, 1, 1);
	pump(&B, 300);
	check(B.nother[0] == nvec && B.nown == nvec && !B.bad,
	      "peer 1: peer 0's %d eventfds, then its own", nvec);
	pump(&A, 300);
	check(A.nother[1] == nvec && A.connects[1] == 1, "peer 0: connect notice of peer 1");
	handshake(&C, 2, 1);
	pump(&C, 300);
	pump(&A, 100);
	pump(&B, 100);
	check(C.nother[0] == nvec && C.nother[1] == nvec && C.nown == nvec,
	      "peer 2: eventfds of peers 0 and 1 and its own");
	check(A.nother[2] == nvec && B.nother[2] == nvec, "peers 0, 1: connect notice of peer 2");
	ring_all(abc, 3, "three peers");

	/* D: a VM whose QEMU goes away while its guest program lives. */
	if (vmshm_attach(pool_path, 0, &pool, NULL, 0) != 0) {
		check(0, "attach %s", pool_path);
		return 1;
	}
	check(vmshm_create(pool, VMSHM_TYPE_SHM, "dbtest-shared", 4096, 4, 0, &shared) == 0,
	      "host process creates dbtest-shared");
	handshake(&D, 3, 1);
	pump(&D, 300);
	if (pipe(pipefd) < 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		/* the guest holds no socket: only "QEMU" (this process) does */
		close(A.sock);
		close(B.sock);
		close(C.sock);
		close(D.sock);
		close(pipefd[0]);
		guest(3, pipefd[1]);
	}
	close(pipefd[1]);
	check(read(pipefd[0], &c, 1) == 1 && c == 'y',
	      "guest of VM 3 attached, created dbtest-vm-only, opened dbtest-shared");
	kill(pid, SIGSTOP); /* stopped: alive, so only a VM reclaim may take its peer */
	check(vm_peers(pool, 3) == 1, "the pool has one peer of VM 3");
	f = obj(pool, "dbtest-shared");
	check(f.found && (f.holders & (1ull << vmshm_self(pool))) &&
		  __builtin_popcountll(f.holders) == 2,
	      "dbtest-shared is held by two peers");
	pump(&A, 100);
	close(D.sock); /* abrupt: unread messages, no goodbye */
	D.sock = -1;
	pump(&A, 500);
	pump(&B, 100);
	pump(&C, 100);
	check(A.gone[3] == 1 && B.gone[3] == 1 && C.gone[3] == 1,
	      "peers 0, 1, 2: disconnect notice of peer 3 (ID without fd)");
	ok = 0;
	for (int i = 0; i < 100 && !ok; i++) {
		ok = vm_peers(pool, 3) == 0;
		if (!ok)
			usleep(50000);
	}
	check(ok, "the server reclaimed VM 3's peer though its process lives");
	f = obj(pool, "dbtest-vm-only");
	check(!f.found, "dbtest-vm-only (held only by VM 3) is gone");
	f = obj(pool, "dbtest-shared");
	check(f.found && f.holders == (1ull << vmshm_self(pool)),
	      "dbtest-shared is still there, held by the host process only");
	check(vmshm_close(pool, &shared) == 0, "host process closes dbtest-shared");
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	vmshm_detach(pool);

	/* A garbage client is dropped; the others see it come and go. */
	handshake(&G, 4, 1);
	check(write(G.sock, "GARBAGE!GARBAGE!", 16) == 16, "garbage client sends 16 bytes");
	pump(&G, 2000);
	check(G.eof, "the server drops the garbage client");
	pump(&A, 300);
	pump(&B, 100);
	pump(&C, 100);
	check(A.connects[4] == 1 && A.gone[4] == 1 && B.gone[4] == 1 && C.gone[4] == 1,
	      "peers 0, 1, 2: connect and disconnect notices of peer 4");
	close_peer(&G);

	/* A client that never reads must not hold up the others. */
	memset(&N, 0, sizeof(N));
	N.sock = connect_sock();
	ok = 1;
	for (int i = 0; i < CHURN; i++) {
		if (!handshake(&M[i], 6 + i, 0))
			ok = 0;
		pump(&M[i], 30);
		if (M[i].id != 6 + i || M[i].nown != nvec || M[i].nother[0] != nvec)
			ok = 0;
		close_peer(&M[i]);
	}
	check(ok,
	      "%d clients connect and get their fds while client 5 reads nothing (%d messages "
	      "for it, more than its socket holds)",
	      CHURN, CHURN * (nvec + 1));

	/* A client that vanishes mid-handshake. */
	{
		int s = connect_sock();
		struct linger lg = {1, 0};

		setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(s);
	}
	/* The non-reader got everything, in order, once it read. */
	{
		int64_t v[3];
		int fd[3], all = 1;

		for (int i = 0; i < 3; i++)
			if (recv_msg(N.sock, &v[i], &fd[i], 2000) != 1)
				all = 0;
		N.id = all ? v[1] : -1;
		N.shm = fd[2];
		pump(&N, 300);
		for (int i = 6; i < 6 + CHURN; i++)
			if (N.connects[i] != 1 || N.gone[i] != 1)
				all = 0;
		check(all && N.id == 5 && N.nown == nvec && !N.bad,
		      "client 5, reading late, gets its setup and all %d connects and "
		      "disconnects, none dropped",
		      CHURN);
	}
	close_peer(&N);

	/* A later peer still works with the first three. */
	pump(&A, 300);
	pump(&B, 100);
	pump(&C, 100);
	check(!A.eof && !B.eof && !C.eof && !A.bad && !B.bad && !C.bad,
	      "peers 0, 1, 2 still connected, every message well-formed");
	check(A.gone[5] == 1 && A.gone[5 + CHURN] == 1 && A.gone[6 + CHURN] == 1,
	      "peer 0 saw the non-reader (5), the last of the %d (%d) and the vanished one (%d) go",
	      CHURN, 5 + CHURN, 6 + CHURN);
	handshake(&E, 7 + CHURN, 1);
	pump(&E, 300);
	pump(&A, 100);
	pump(&B, 100);
	pump(&C, 100);
	ok = E.nown == nvec && E.nother[0] == nvec && E.nother[1] == nvec && E.nother[2] == nvec;
	for (int i = 3; i < MAXID; i++)
		if (E.nother[i])
			ok = 0;
	check(ok, "peer %d gets the fds of exactly the live peers 0, 1, 2", 7 + CHURN);
	ring_all(abc, 4, "four peers after the churn");

	close_peer(&A);
	close_peer(&B);
	close_peer(&C);
	close_peer(&E);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
