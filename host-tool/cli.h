/*
 * cli.h - shared pieces of the vmshm command-line tool: option parsing,
 * sizes, messages, pool access and the JSON writer.
 */
#ifndef VMSHM_CLI_H
#define VMSHM_CLI_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "vmshm.h"

/* Exit codes: scripts rely on them. */
#define EXIT_OK    0
#define EXIT_FAIL  1 /* a failed check or a failed operation */
#define EXIT_USAGE 2 /* bad command line or bad argument value */

/* One option of a command. ARG: takes a value (stored in *VAL); else *FLAG
 * is set to 1. */
struct opt {
	const char *name; /* without the leading "--" */
	int arg;
	const char **val;
	int *flag;
};

/* What every command shares. */
struct cmd_ctx {
	const char *cmd;  /* "ls", "pool create", ... (for messages) */
	const char *pool; /* --pool or $VMSHM_POOL, may be NULL */
	int json;
	int help;
};

/* Parses ARGV (after the command words) against OPTS (terminated by a NULL
 * name); --pool, --json (if JSON_OK) and --help are added. Positional
 * arguments go to POS (at most MAXPOS). Returns 0 or EXIT_USAGE (message
 * printed). */
int parse_opts(struct cmd_ctx *c, int argc, char **argv, const struct opt *opts, int json_ok,
	       const char **pos, int maxpos, int *npos);

/* "vmshm CMD: message" on stderr; return the exit code given. */
int fail(const struct cmd_ctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "<N>" for syslog priority PRIO (LOG_ERR, ...) when stderr is the journal
 * (JOURNAL_STREAM), else "": put before each log line. */
const char *log_prefix(int prio);

/* Tells systemd STATE ("READY=1", ...) under Type=notify (notify.c). */
void notify_systemd(const char *state);

/* Sizes: 4096, 4K, 64M, 1G, 2T (binary multiples; optional "iB"). */
int parse_size(const char *s, uint64_t *out);
/* Decimal or 0x-hex unsigned integer. */
int parse_u64(const char *s, uint64_t *out);
/* A user or group by name or number; 0 or -1. */
int lookup_user(const char *s, uid_t *uid);
int lookup_group(const char *s, gid_t *gid);
/* An octal file mode, 0 to 0777; 0 or -1. */
int parse_mode(const char *s, mode_t *mode);
/* Exact short form: "64M" if divisible, else the byte count. */
const char *fmt_size(uint64_t v, char *buf, size_t len);
uint64_t next_pow2(uint64_t v);

/* Attaches the pool of C (error message printed, EXIT_* returned). */
int open_pool(const struct cmd_ctx *c, unsigned flags, vmshm_pool **out);

/* Writes S to F with control bytes and '\\' escaped as \\xNN (for text
 * listings); returns the bytes written. */
int put_safe(FILE *f, const char *s);

/* 16 bytes as a UUID string (36 characters and the NUL). */
void uuid_str(const uint8_t id[16], char out[37]);

/* Commands. */
int cmd_pool_create(int argc, char **argv);
int cmd_pool_info(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_write(int argc, char **argv);
int cmd_read(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_peers(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_qemu_args(int argc, char **argv);
int cmd_libvirt_xml(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_event(int argc, char **argv);
int cmd_semaphore(int argc, char **argv);
int cmd_release(int argc, char **argv);
int cmd_wait(int argc, char **argv);

/* ---- JSON writer ----------------------------------------------------- */

struct json {
	FILE *f;
	int depth;
	int first;   /* nothing written yet at this depth */
	int pending; /* a key was written, the value comes next */
};
void json_init(struct json *j, FILE *f);
void json_obj(struct json *j, const char *key);
void json_arr(struct json *j, const char *key);
void json_end_obj(struct json *j);
void json_end_arr(struct json *j);
void json_str(struct json *j, const char *key, const char *v);
void json_strn(struct json *j, const char *key, const char *v, size_t n);
void json_u64(struct json *j, const char *key, uint64_t v);
void json_i64(struct json *j, const char *key, int64_t v);
void json_bool(struct json *j, const char *key, int v);
void json_null(struct json *j, const char *key);
/* Ends the document with a newline. */
void json_done(struct json *j);

/* The state of an event, semaphore or mutex in a row of `vmshm ls`
 * (cmd_sync.c): a short word ("-" for other objects), and its JSON fields
 * (none for other objects). */
struct vmshm_objinfo;
void sync_state_text(const struct vmshm_objinfo *o, char *buf, size_t len);
void sync_state_json(struct json *j, const struct vmshm_objinfo *o);

/* The listing commands' scaffold (listing.c). listing_open parses the
 * common options, prints HELP, and attaches an observer into *P (P NULL:
 * no attach): LISTING_GO to go on, else the exit code to return. Then
 * listing_begin opens the rows (JSON: {"pool": ..., KEY: [...]; text: the
 * HEADER line), the command prints its rows into L, listing_close_rows
 * ends the array (JSON fields may follow), and listing_end closes all. */
#define LISTING_GO (-1)
struct listing {
	struct json j;
	int json;
	int rows_open;
};
int listing_open(struct cmd_ctx *c, int argc, char **argv, const char *help, vmshm_pool **p);
void listing_begin(struct listing *l, const struct cmd_ctx *c, const char *key, const char *header);
void listing_close_rows(struct listing *l);
void listing_end(struct listing *l);

#endif
