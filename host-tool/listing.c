/*
 * listing.c - the scaffold the listing commands share (ls, peers, check):
 * their common start (options, --help, an observer attach) and their two
 * shapes of output, a JSON object {"pool": PATH, KEY: [rows], ...} or a
 * text table under a header line. Each command prints its own rows.
 */
#include <stdio.h>

#include "cli.h"

int listing_open(struct cmd_ctx *c, int argc, char **argv, const char *help, vmshm_pool **p)
{
	const struct opt opts[] = {{NULL, 0, NULL, NULL}};
	const char *pos[1];
	int npos, rc;

	rc = parse_opts(c, argc, argv, opts, 1, pos, 0, &npos);
	if (rc)
		return rc;
	if (c->help) {
		fputs(help, stdout);
		return EXIT_OK;
	}
	if (!p)
		return LISTING_GO;
	rc = open_pool(c, VMSHM_ATTACH_OBSERVER, p);
	return rc ? rc : LISTING_GO;
}

void listing_begin(struct listing *l, const struct cmd_ctx *c, const char *key, const char *header)
{
	l->json = c->json;
	if (l->json) {
		json_init(&l->j, stdout);
		json_obj(&l->j, NULL);
		json_str(&l->j, "pool", c->pool);
		json_arr(&l->j, key);
	} else if (header) {
		fputs(header, stdout);
	}
	l->rows_open = 1;
}

void listing_close_rows(struct listing *l)
{
	if (l->json && l->rows_open)
		json_end_arr(&l->j);
	l->rows_open = 0;
}

void listing_end(struct listing *l)
{
	listing_close_rows(l);
	if (l->json) {
		json_end_obj(&l->j);
		json_done(&l->j);
	}
}
