/*
 * serve.c - `vmshm serve`: the ivshmem doorbell server.
 *
 * Speaks the protocol of QEMU's ivshmem-doorbell device over a UNIX stream
 * socket. Every message is one little-endian int64, some carrying one file
 * descriptor (SCM_RIGHTS). To a new client, in order: the protocol version
 * (0); its own ID; -1 with the pool's fd; for each existing peer, that
 * peer's ID once per vector with the peer's eventfd for the vector; then its
 * own ID once per vector with its own eventfds. Every other client gets the
 * new ID once per vector with the new eventfds (a connect), and a departed
 * client's ID without a fd (a disconnect).
 *
 * One thread, poll(): every socket is non-blocking and every client has its
 * own queue of messages, so a client that does not read never stalls the
 * others (it is dropped when its queue passes a bound). A client that sends
 * anything is not QEMU and is dropped. When a client goes away the server
 * declares the peers recorded with its ID dead in the pool and reclaims their
 * references (vmshm_reclaim_vm), and logs what it reclaimed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "cli.h"

#define MAX_VECTORS 64
#define MAX_IDS     65536
#define MAX_QUEUE   (1u << 17) /* messages queued for one client before it is dropped */

static const char serve_help[] =
    "usage: vmshm serve [--pool PATH] --socket SOCKET [--vectors N]\n"
    "                   [--socket-group GROUP] [--socket-mode MODE]\n"
    "\n"
    "Runs the ivshmem doorbell server for the pool in the foreground: QEMU\n"
    "devices `-device ivshmem-doorbell,chardev=ID,vectors=N` with\n"
    "`-chardev socket,path=SOCKET,id=ID` connect to it and receive the pool's\n"
    "memory, a peer ID (0 to 65535) and N eventfds per peer (default 1, at\n"
    "most 64). When a VM's QEMU disconnects, the peers that VM recorded in the\n"
    "pool are declared dead and their references reclaimed. SIGINT or SIGTERM\n"
    "stops the server and removes SOCKET; SIGHUP is ignored.\n"
    "  --socket-group GROUP  the socket's group (QEMU's users must be in it)\n"
    "  --socket-mode MODE    the socket's mode in octal (default 0660)\n"
    "SOCKET.lock marks a running server: a second one is refused without\n"
    "connecting. Under systemd (Type=notify) it reports readiness once it\n"
    "listens, and log lines carry syslog priorities.\n";

struct fdref {
	int fd;
	unsigned refs;
};

struct msg {
	int64_t val;
	struct fdref *fd; /* NULL: no descriptor */
};

struct client {
	int sock;
	unsigned id;
	struct fdref *vec[MAX_VECTORS];
	struct msg *q;
	size_t head, len, cap;
	size_t sent;      /* bytes of q[head] already sent */
	const char *dead; /* why it is to be dropped, NULL while fine */
};

struct server {
	const char *pool_path;
	const char *sock_path;
	ino_t sock_ino;
	gid_t sock_gid; /* (gid_t)-1: the server's */
	mode_t sock_mode;
	int lock_fd; /* SOCKET.lock, held while serving */
	unsigned nvec;
	int lfd;
	int reserve_fd; /* spare descriptor for refusing connections at EMFILE */
	struct fdref *shm;
	dev_t pool_dev; /* identity of the file served, to notice a replaced pool */
	ino_t pool_ino;
	struct client **cl;
	size_t ncl, capcl;
	unsigned cur_id;
	unsigned char used[MAX_IDS / 8];
};

static int sig_pipe[2] = {-1, -1};

/* One line on stderr; under the journal with its syslog priority
 * (LOG_ERR, LOG_WARNING, LOG_INFO) as a "<N>" prefix. */
static void logmsg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logmsg(int prio, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%svmshm serve: ", log_prefix(prio));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

static void on_signal(int sig)
{
	unsigned char b = (unsigned char)sig;
	int e = errno;

	if (write(sig_pipe[1], &b, 1) < 0) {
		/* the pipe is full: a stop is already pending */
	}
	errno = e;
}

static struct fdref *fdref_new(int fd)
{
	struct fdref *r = malloc(sizeof(*r));

	if (!r)
		return NULL;
	r->fd = fd;
	r->refs = 1;
	return r;
}

static struct fdref *fdref_get(struct fdref *r)
{
	if (r)
		r->refs++;
	return r;
}

static void fdref_put(struct fdref *r)
{
	if (r && --r->refs == 0) {
		close(r->fd);
		free(r);
	}
}

static void enqueue(struct client *c, int64_t val, struct fdref *fd)
{
	if (c->dead)
		return;
	if (c->len >= MAX_QUEUE) {
		c->dead = "does not read its socket";
		return;
	}
	if (c->head + c->len == c->cap) {
		if (c->head > 0) {
			memmove(c->q, c->q + c->head, c->len * sizeof(*c->q));
			c->head = 0;
		} else {
			size_t ncap = c->cap ? c->cap * 2 : 64;
			struct msg *nq = realloc(c->q, ncap * sizeof(*nq));

			if (!nq) {
				c->dead = "out of memory for its queue";
				return;
			}
			c->q = nq;
			c->cap = ncap;
		}
	}
	c->q[c->head + c->len].val = val;
	c->q[c->head + c->len].fd = fdref_get(fd);
	c->len++;
}

/* Sends what the socket takes now; never waits. */
static void flush(struct client *c)
{
	while (c->len && !c->dead) {
		struct msg *m = &c->q[c->head];
		unsigned char buf[8];
		union {
			struct cmsghdr h;
			char space[CMSG_SPACE(sizeof(int))];
		} ctl;
		struct iovec iov;
		struct msghdr mh = {0};
		ssize_t n;

		for (int i = 0; i < 8; i++)
			buf[i] = (unsigned char)((uint64_t)m->val >> (8 * i));
		iov.iov_base = buf + c->sent;
		iov.iov_len = sizeof(buf) - c->sent;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		if (m->fd && c->sent == 0) {
			struct cmsghdr *cm;

			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.space;
			mh.msg_controllen = sizeof(ctl.space);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &m->fd->fd, sizeof(int));
		}
		n = sendmsg(c->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			c->dead = errno == EPIPE || errno == ECONNRESET ? "disconnected"
									: "cannot be written to";
			return;
		}
		c->sent += (size_t)n;
		if (c->sent == sizeof(buf)) {
			fdref_put(m->fd);
			c->head++;
			c->len--;
			c->sent = 0;
			if (!c->len)
				c->head = 0;
		}
	}
}

static void free_client(struct client *c)
{
	for (size_t i = 0; i < c->len; i++)
		fdref_put(c->q[c->head + i].fd);
	free(c->q);
	for (unsigned v = 0; v < MAX_VECTORS; v++)
		fdref_put(c->vec[v]);
	close(c->sock);
	free(c);
}

struct vm_peers {
	int32_t id;
	char list[512];
	size_t n;
	unsigned count;
};

static int note_peer(const struct vmshm_peerinfo *pi, void *arg)
{
	struct vm_peers *v = arg;

	if (pi->ivposition != v->id || pi->state == VMSHM_PEER_FREE)
		return 0;
	v->count++;
	if (v->n + 64 < sizeof(v->list))
		v->n += (size_t)snprintf(v->list + v->n, sizeof(v->list) - v->n,
					 "%s peer %u (pid %" PRIu64 " %.16s)",
					 v->count > 1 ? "," : "", pi->index, pi->pid, pi->comm);
	return 0;
}

/* Is the file at the pool's path still the one served? */
static int same_pool(const struct server *s)
{
	struct stat st;

	return stat(s->pool_path, &st) == 0 && st.st_dev == s->pool_dev && st.st_ino == s->pool_ino;
}

/* The VM of client ID is gone: declare its peers dead and reclaim them. */
static void reclaim_vm(struct server *s, unsigned id)
{
	struct vm_peers v = {.id = (int32_t)id};
	char why[256] = "";
	vmshm_pool *p;
	int rc;

	if (!same_pool(s)) {
		logmsg(LOG_WARNING,
		       "VM %u: %s is no longer the pool served (replaced or removed); its peers "
		       "are not reclaimed",
		       id, s->pool_path);
		return;
	}
	rc = vmshm_attach(s->pool_path, VMSHM_ATTACH_NORECLAIM, &p, why, sizeof(why));
	if (rc == VMSHM_ENOPEER)
		rc = vmshm_attach(s->pool_path, VMSHM_ATTACH_OBSERVER | VMSHM_ATTACH_NORECLAIM, &p,
				  why, sizeof(why));
	if (rc < 0) {
		logmsg(LOG_ERR, "VM %u: cannot attach %s to reclaim its peers: %s", id,
		       s->pool_path, why[0] ? why : vmshm_strerror(rc));
		return;
	}
	vmshm_peers(p, note_peer, &v);
	rc = vmshm_reclaim_vm(p, NULL, (int32_t)id);
	vmshm_detach(p);
	if (rc < 0)
		logmsg(LOG_ERR, "VM %u: reclaim failed: %s", id, vmshm_strerror(rc));
	else if (rc > 0 || v.count)
		logmsg(LOG_INFO, "VM %u: reclaimed %d peer%s:%s", id, rc, rc == 1 ? "" : "s",
		       v.list);
}

/* Drops every client marked dead, telling the others; repeats while a
 * notice makes another client dead. */
static void reap(struct server *s)
{
	int again = 1;

	while (again) {
		again = 0;
		for (size_t i = 0; i < s->ncl;) {
			struct client *c = s->cl[i];
			unsigned id;

			if (!c->dead) {
				i++;
				continue;
			}
			id = c->id;
			logmsg(strcmp(c->dead, "disconnected") ? LOG_WARNING : LOG_INFO,
			       "peer %u %s; dropped", id, c->dead);
			memmove(s->cl + i, s->cl + i + 1, (s->ncl - i - 1) * sizeof(*s->cl));
			s->ncl--;
			s->used[id / 8] &= (unsigned char)~(1u << (id % 8));
			free_client(c);
			for (size_t k = 0; k < s->ncl; k++) {
				enqueue(s->cl[k], (int64_t)id, NULL);
				flush(s->cl[k]);
				if (s->cl[k]->dead)
					again = 1;
			}
			reclaim_vm(s, id);
		}
	}
}

static void new_client(struct server *s, int fd)
{
	struct client *c;
	unsigned id = 0;
	size_t i;

	if (s->ncl >= MAX_IDS) {
		logmsg(LOG_WARNING, "refused a connection: all %u peer IDs are in use", MAX_IDS);
		close(fd);
		return;
	}
	for (i = 0; i < MAX_IDS; i++) {
		id = s->cur_id;
		s->cur_id = (s->cur_id + 1) % MAX_IDS;
		if (!(s->used[id / 8] & (1u << (id % 8))))
			break;
	}
	if (s->ncl == s->capcl) {
		size_t ncap = s->capcl ? s->capcl * 2 : 16;
		struct client **ncl = realloc(s->cl, ncap * sizeof(*ncl));

		if (!ncl) {
			logmsg(LOG_WARNING, "refused a connection: out of memory");
			close(fd);
			return;
		}
		s->cl = ncl;
		s->capcl = ncap;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		logmsg(LOG_WARNING, "refused a connection: out of memory");
		close(fd);
		return;
	}
	c->sock = fd;
	c->id = id;
	for (unsigned v = 0; v < s->nvec; v++) {
		int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		c->vec[v] = efd < 0 ? NULL : fdref_new(efd);
		if (!c->vec[v]) {
			logmsg(LOG_WARNING, "refused a connection: cannot make an eventfd: %s",
			       strerror(errno));
			if (efd >= 0)
				close(efd);
			free_client(c);
			return;
		}
	}
	s->used[id / 8] |= (unsigned char)(1u << (id % 8));
	if (!same_pool(s))
		logmsg(LOG_WARNING,
		       "%s was replaced or removed; peer %u gets the pool this server "
		       "started with (restart the server to serve the new one)",
		       s->pool_path, id);

	enqueue(c, 0, NULL); /* protocol version */
	enqueue(c, (int64_t)id, NULL);
	enqueue(c, -1, s->shm);
	for (i = 0; i < s->ncl; i++) {
		struct client *o = s->cl[i];

		for (unsigned v = 0; v < s->nvec; v++)
			enqueue(o, (int64_t)id, c->vec[v]);
		flush(o);
	}
	for (i = 0; i < s->ncl; i++)
		for (unsigned v = 0; v < s->nvec; v++)
			enqueue(c, (int64_t)s->cl[i]->id, s->cl[i]->vec[v]);
	for (unsigned v = 0; v < s->nvec; v++)
		enqueue(c, (int64_t)id, c->vec[v]);
	s->cl[s->ncl++] = c;
	flush(c);
	logmsg(LOG_INFO, "peer %u connected (%zu peer%s)", id, s->ncl, s->ncl == 1 ? "" : "s");
}

static void accept_all(struct server *s)
{
	for (int n = 0; n < 64; n++) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			new_client(s, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if ((errno == EMFILE || errno == ENFILE) && s->reserve_fd >= 0) {
			/* Out of descriptors: take the connection with the spare and refuse it,
			 * so that poll() does not spin on it. */
			close(s->reserve_fd);
			fd = accept(s->lfd, NULL, NULL);
			if (fd >= 0)
				close(fd);
			s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			logmsg(LOG_WARNING, "refused a connection: out of file descriptors");
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			logmsg(LOG_ERR, "accept: %s", strerror(errno));
		return;
	}
}

/* Something arrived from client C: QEMU never sends anything. */
static void client_input(struct client *c)
{
	char buf[256];
	ssize_t n = recv(c->sock, buf, sizeof(buf), MSG_DONTWAIT);

	if (n == 0)
		c->dead = "disconnected";
	else if (n > 0)
		c->dead = "sent data (not an ivshmem peer)";
	else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		c->dead = "disconnected with an error";
}

/* SOCKET.lock, locked while a server serves SOCKET: a second server learns
 * that one is there without connecting to it (which would cost the first
 * one a peer ID). The lock goes with the process. */
static int lock_socket(const struct cmd_ctx *cx, struct server *s)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s.lock", s->sock_path) >= (int)sizeof(path))
		return fail(cx, EXIT_USAGE, "socket path too long: %s", s->sock_path);
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0)
		return fail(cx, EXIT_FAIL, "cannot open %s: %s", path, strerror(errno));
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	close(s->lock_fd);
	s->lock_fd = -1;
	if (errno == EWOULDBLOCK)
		return fail(cx, EXIT_FAIL, "%s: another server is listening there", s->sock_path);
	return fail(cx, EXIT_FAIL, "cannot lock %s: %s", path, strerror(errno));
}

/* --socket-group, --socket-mode: who may connect (QEMU needs write). */
static int socket_access(const struct cmd_ctx *cx, const struct server *s)
{
	if (s->sock_gid != (gid_t)-1 && chown(s->sock_path, (uid_t)-1, s->sock_gid) < 0)
		return fail(cx, EXIT_FAIL, "cannot give %s its group: %s", s->sock_path,
			    strerror(errno));
	if (chmod(s->sock_path, s->sock_mode) < 0)
		return fail(cx, EXIT_FAIL, "cannot set the mode of %s: %s", s->sock_path,
			    strerror(errno));
	return 0;
}

static int bind_socket(const struct cmd_ctx *cx, struct server *s, struct sockaddr_un *sa)
{
	mode_t old = umask(0177); /* nobody connects before the mode is set */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)sa, sizeof(*sa));
	int e = errno;

	umask(old);
	if (fd < 0)
		return fail(cx, EXIT_FAIL, "socket: %s", strerror(e));
	if (rc < 0) {
		close(fd);
		return fail(cx, EXIT_FAIL, "cannot bind %s: %s", s->sock_path, strerror(e));
	}
	s->lfd = fd;
	return 0;
}

/* A signal arrived: SIGINT and SIGTERM stop the server (1), SIGHUP is
 * logged and ignored (0): the log is stderr, nothing to reopen. */
static int stop_signal(void)
{
	unsigned char sig = 0;

	if (read(sig_pipe[0], &sig, 1) != 1)
		return 0;
	if (sig == SIGHUP) {
		logmsg(LOG_INFO, "SIGHUP: nothing to reload; serving on");
		return 0;
	}
	logmsg(LOG_INFO, "signal %d: stopping", sig);
	notify_systemd("STOPPING=1");
	return 1;
}

static int listen_socket(const struct cmd_ctx *cx, struct server *s)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int rc;

	if (strlen(s->sock_path) >= sizeof(sa.sun_path))
		return fail(cx, EXIT_USAGE, "socket path is longer than %zu bytes: %s",
			    sizeof(sa.sun_path) - 1, s->sock_path);
	strcpy(sa.sun_path, s->sock_path);
	if ((rc = lock_socket(cx, s)))
		return rc;
	if (lstat(s->sock_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return fail(cx, EXIT_FAIL, "%s exists and is not a socket", s->sock_path);
		if (unlink(s->sock_path) < 0)
			return fail(cx, EXIT_FAIL, "cannot remove the stale socket %s: %s",
				    s->sock_path, strerror(errno));
		logmsg(LOG_INFO, "removed the stale socket %s", s->sock_path);
	}
	if ((rc = bind_socket(cx, s, &sa)))
		return rc;
	if ((rc = socket_access(cx, s)) == 0 &&
	    (listen(s->lfd, 128) < 0 || stat(s->sock_path, &st) < 0))
		rc = fail(cx, EXIT_FAIL, "cannot listen on %s: %s", s->sock_path, strerror(errno));
	if (rc) {
		close(s->lfd);
		s->lfd = -1;
		unlink(s->sock_path);
		return rc;
	}
	s->sock_ino = st.st_ino;
	return 0;
}

static void remove_socket(struct server *s)
{
	struct stat st;

	if (stat(s->sock_path, &st) == 0 && st.st_ino == s->sock_ino)
		unlink(s->sock_path);
}

int cmd_serve(int argc, char **argv)
{
	struct cmd_ctx cx = {.cmd = "serve"};
	const char *sock = NULL, *vectors_s = NULL, *group = NULL, *mode = NULL, *pos[1];
	const struct opt opts[] = {
	    {"socket", 1, &sock, NULL},
	    {"vectors", 1, &vectors_s, NULL},
	    {"socket-group", 1, &group, NULL},
	    {"socket-mode", 1, &mode, NULL},
	    {NULL, 0, NULL, NULL},
	};
	struct server *s;
	struct pollfd *pfd = NULL;
	size_t pcap = 0;
	struct sigaction sa = {0};
	struct rlimit rl;
	struct stat st;
	vmshm_pool *p;
	uint64_t nvec = 1, size;
	gid_t sock_gid = (gid_t)-1;
	mode_t sock_mode = 0660;
	char a[32];
	int npos, rc, fd, stop = 0;

	rc = parse_opts(&cx, argc, argv, opts, 0, pos, 0, &npos);
	if (rc)
		return rc;
	if (cx.help) {
		fputs(serve_help, stdout);
		return EXIT_OK;
	}
	if (!sock || !*sock)
		return fail(&cx, EXIT_USAGE, "needs --socket SOCKET (see vmshm serve --help)");
	if (vectors_s && (parse_u64(vectors_s, &nvec) < 0 || nvec < 1 || nvec > MAX_VECTORS))
		return fail(&cx, EXIT_USAGE, "bad --vectors '%s': use 1 to %d", vectors_s,
			    MAX_VECTORS);
	if (group && lookup_group(group, &sock_gid) < 0)
		return fail(&cx, EXIT_USAGE, "no such group '%s' (--socket-group)", group);
	if (mode && parse_mode(mode, &sock_mode) < 0)
		return fail(&cx, EXIT_USAGE, "bad --socket-mode '%s': use octal 0000 to 0777",
			    mode);
	/* The server's own attaches (to reclaim) belong to no VM. */
	unsetenv("VMSHM_IVPOSITION");
	rc = open_pool(&cx, VMSHM_ATTACH_OBSERVER, &p);
	if (rc)
		return rc;
	size = vmshm_size(p);
	vmshm_detach(p);
	fd = open(cx.pool, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail(&cx, EXIT_FAIL, "%s: %s", cx.pool, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(&cx, EXIT_FAIL, "%s: the doorbell server needs a pool file", cx.pool);
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return fail(&cx, EXIT_FAIL, "out of memory");
	}
	s->shm = fdref_new(fd);
	s->pool_dev = st.st_dev;
	s->pool_ino = st.st_ino;
	s->pool_path = cx.pool;
	s->sock_path = sock;
	s->nvec = (unsigned)nvec;
	s->lfd = -1;
	s->lock_fd = -1;
	s->sock_gid = sock_gid;
	s->sock_mode = sock_mode;
	if (!s->shm) {
		close(fd);
		free(s);
		return fail(&cx, EXIT_FAIL, "out of memory");
	}

	/* Many clients mean many descriptors. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		fdref_put(s->shm);
		free(s);
		return fail(&cx, EXIT_FAIL, "pipe: %s", strerror(errno));
	}
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = listen_socket(&cx, s);
	if (rc) {
		fdref_put(s->shm);
		free(s);
		return rc;
	}
	s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	logmsg(LOG_INFO, "serving %s (%s) on %s, %u vector%s", cx.pool,
	       fmt_size(size, a, sizeof(a)), sock, s->nvec, s->nvec == 1 ? "" : "s");
	notify_systemd("READY=1");

	while (!stop) {
		size_t n = s->ncl + 2;

		if (n > pcap) {
			struct pollfd *np = realloc(pfd, n * 2 * sizeof(*np));

			if (!np) {
				logmsg(LOG_ERR, "out of memory; stopping");
				break;
			}
			pfd = np;
			pcap = n * 2;
		}
		pfd[0] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
		for (size_t i = 0; i < s->ncl; i++)
			pfd[i + 2] = (struct pollfd){
			    .fd = s->cl[i]->sock,
			    .events = (short)(POLLIN | (s->cl[i]->len ? POLLOUT : 0)),
			};
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			logmsg(LOG_ERR, "poll: %s; stopping", strerror(errno));
			break;
		}
		if (pfd[0].revents && (stop = stop_signal()))
			break;
		for (size_t i = 0; i < s->ncl; i++) {
			struct client *c = s->cl[i];
			short re = pfd[i + 2].revents;

			if (re & POLLOUT)
				flush(c);
			if (re & POLLIN)
				client_input(c);
			else if (re & (POLLHUP | POLLERR | POLLNVAL))
				c->dead = "disconnected";
		}
		reap(s);
		if (pfd[1].revents & POLLIN)
			accept_all(s);
		reap(s);
	}

	for (size_t i = 0; i < s->ncl; i++)
		free_client(s->cl[i]);
	free(s->cl);
	free(pfd);
	close(s->lfd);
	remove_socket(s);
	fdref_put(s->shm);
	if (s->reserve_fd >= 0)
		close(s->reserve_fd);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s);
	logmsg(LOG_INFO, "stopped");
	return stop ? EXIT_OK : EXIT_FAIL;
}
