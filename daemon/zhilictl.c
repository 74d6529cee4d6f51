/*
 * zhilictl: the command-line client of zhilid. It speaks the socket
 * protocol of zhilid(8) (newline-delimited JSON over a Unix
 * stream socket): libyaml to find the socket in the config, cJSON for the
 * wire.  The exceptions are `zhilictl test` (ctl-test.c), which runs
 * rule unit tests through the daemon's own engine, in process, with no
 * daemon and no socket, and `zhilictl backtest` (ctl-backtest.c), which
 * replays the stored event log through that engine, reading the
 * database.
 *
 * This file holds the command line, finding the socket, and the commands
 * other than push and map; ctl-conn.c the wire, ctl-push.c the pipelined
 * push, ctl-map.c the map pages.
 *
 * Exit status, which scripts may rely on:
 *   0  success
 *   1  the daemon answered with an error (push: at least one line rejected)
 *   2  usage error: bad arguments, unreadable config or input file
 *   3  cannot connect, connection lost, or a protocol error
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <yaml.h>

#include "ctl.h"

#define DEFAULT_CONF	"zhilid.conf"
#define DEFAULT_SOCKET	"run/zhilid.sock"

#define ALERTS_PAGE	1000

static const char usage_text[] =
"usage: zhilictl [-c CONF] [--socket PATH] [--json] COMMAND [ARGS]\n"
"\n"
"commands:\n"
"  push [FILE|-]        send NDJSON events from FILE or stdin, pipelined;\n"
"                       prints \"N accepted, D duplicates, E errors, A alerts\"\n"
"                       and each rejected line as FILE:LINE: CODE: MESSAGE\n"
"  get KIND ID          show an entity, e.g. `get household H1`\n"
"  alerts [--after ID] [--limit N] [--rule RULE] [--unacked] [--silenced]\n"
"         [--follow]    list alerts as ID TS SEVERITY RULE KIND ENTITY MESSAGE\n"
"                       (all of them unless --limit); --unacked: only those\n"
"                       not acknowledged; --silenced: silenced ones too;\n"
"                       --follow then keeps printing new alerts until\n"
"                       interrupted\n"
"  ping                 print the daemon's version\n"
"  stats                print the daemon's counters as `key value` lines\n"
"  reload               reload the rules; print the generation or the problems\n"
"  ack ID               acknowledge an alert\n"
"  metrics              print the daemon's metrics (OpenMetrics text)\n"
"  silence [--rule R] [--kind K] [--entity E] [--severity S] [--FIELD V]...\n"
"          --until TS [--comment C]\n"
"                       silence the alerts that match every key given (R may\n"
"                       end in *; FIELD is a field of the entity, such as\n"
"                       --community C) until TS; prints the silence's id\n"
"  silences [--all]     list the active silences (--all: ended and expired\n"
"                       ones too) as ID STATE until TS by UID KEY=VALUE...\n"
"  unsilence ID         end a silence\n"
"  explain KIND ID      why the entity stands where it does under each rule\n"
"                       of its kind, as an indented tree (--json: the answer)\n"
"  push --dry-run [FILE|-]\n"
"                       send each line as a dry_run: the answers a push\n"
"                       would get (alert ids null); nothing changes\n"
"  map [--rule RULE] [--community C] [-o FILE | --dir DIR]\n"
"                       draw a classify rule's map as a self-contained HTML\n"
"                       page: the overview of every community, or one\n"
"                       community's households by grid; --dir writes both\n"
"                       (index.html and one page per community)\n"
"  export [--db PATH] [--from TS] [--to TS] [--alerts]\n"
"                       write the stored event log (or the alerts) as NDJSON\n"
"                       from the database, read-only, beside the daemon;\n"
"                       the event lines can be pushed again (zhilictl(1))\n"
"  test [--coverage] FILE...\n"
"                       run rule unit tests in process, no daemon needed:\n"
"                       prints PASS/FAIL per test and a diff for each\n"
"                       failure; exit 1 if any failed, 2 if a test file or\n"
"                       its rules do not load (see zhilictl(1)); with\n"
"                       --coverage, which outcomes of each rule they reached\n"
"  backtest --rules FILE... [--db PATH] [--from TS] [--to TS] [--limit N]\n"
"                       replay the stored event log (read-only) into the\n"
"                       candidate rules and print how their alerts differ\n"
"                       from the stored ones: exit 0 none, 1 some, 2 error\n"
"\n"
"options:\n"
"  -c, --config CONF    read the socket path from CONF's `socket:` key\n"
"                       (default: ./zhilid.conf if it exists)\n"
"  --socket PATH        connect to PATH (default: run/zhilid.sock)\n"
"  --json               print the daemon's JSON as received (alerts: one\n"
"                       ALERT object per line)\n"
"  -h, --help           print this text\n"
"\n"
"exit status:\n"
"  0  success\n"
"  1  the daemon answered with an error (push: any line was rejected;\n"
"     test: any test failed)\n"
"  2  usage error: bad arguments, unreadable config or input file\n"
"  3  cannot connect, connection lost, or protocol error\n";

void
ctl_usage_error(const char *fmt, const char *arg)
{
	fputs("zhilictl: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\nTry 'zhilictl --help'.\n", stderr);
	fflush(stderr);
	_exit(EXIT_USAGE);
}

static void
print_alert(const cJSON *a)
{
	static const char	*fields[] = { "id", "ts", "severity", "rule",
				    "kind", "entity", "message" };
	char			*s;
	size_t			 i;

	if (ctl_opt.json) {
		if ((s = cJSON_PrintUnformatted(a)) != NULL) {
			puts(s);
			free(s);
		}
		return;
	}
	for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		if (i > 0)
			putchar(' ');
		ctl_put_value(cJSON_GetObjectItemCaseSensitive(a, fields[i]),
		    stdout);
	}
	putchar('\n');
}

/* Argument parsing helpers. */

static int
parse_uint(const char *s, unsigned long long *out)
{
	char	*end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

/*
 * Command options: "--name VALUE" or "--name=VALUE". Returns the value
 * and advances *i if argv[*i] is that option, NULL otherwise.
 */
const char *
ctl_opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t	 n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc)
		ctl_usage_error("option '%s' needs a value", name);
	return argv[++*i];
}

/* The positional arguments of a command that has no options. */
static void
positionals(int argc, char **argv, int min, int max, const char *usage)
{
	int	 i, n = 0, dashdash = 0;

	for (i = 1; i < argc; i++) {
		if (!dashdash && strcmp(argv[i], "--") == 0) {
			dashdash = 1;
			continue;
		}
		if (!dashdash && argv[i][0] == '-' && argv[i][1] != '\0')
			ctl_usage_error("unknown option '%s'", argv[i]);
		argv[++n] = argv[i];
	}
	if (n < min || n > max)
		ctl_usage_error("usage: zhilictl %s", usage);
	argv[n + 1] = NULL;
}

static int
cmd_push(int argc, char **argv)
{
	int	i, n = 1, dry = 0;

	/* --dry-run: each line as a dry_run command; nothing changes */
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--dry-run") == 0)
			dry = 1;
		else
			argv[n++] = argv[i];
	argv[n] = NULL;
	positionals(n, argv, 0, 1, "push [--dry-run] [FILE|-]");
	return ctl_push(n > 1 && argv[1] != NULL ? argv[1] : "-", dry);
}

/* Simple commands: one request, one answer. */

static int
simple_request(cJSON *req, cJSON **resp)
{
	struct ctl_conn	*c = ctl_conn_open();

	*resp = ctl_conn_request(c, req, ctl_opt.json);
	ctl_conn_close(c);
	return ctl_check_ok(*resp);
}

/* The same, for the commands in ctl-*.c. */
int
ctl_simple_request(cJSON *req, cJSON **resp)
{
	return simple_request(req, resp);
}

static int
cmd_ping(int argc, char **argv)
{
	cJSON	*r;
	int	 rc = EXIT_SUCCESS;

	positionals(argc, argv, 0, 0, "ping");
	if (simple_request(ctl_new_cmd("ping"), &r) == -1)
		rc = EXIT_DAEMON;
	else if (!ctl_opt.json) {
		ctl_put_value(cJSON_GetObjectItemCaseSensitive(r, "version"),
		    stdout);
		putchar('\n');
	}
	cJSON_Delete(r);
	return rc;
}

static void
print_flat(const char *prefix, const cJSON *v)
{
	const cJSON	*e;
	char		*key;
	size_t		 n;

	if (!cJSON_IsObject(v)) {
		if (*prefix == '\0')
			return;
		printf("%s ", prefix);
		ctl_put_value(v, stdout);
		putchar('\n');
		return;
	}
	cJSON_ArrayForEach(e, v) {
		n = strlen(prefix) + strlen(e->string) + 2;
		key = ctl_xrealloc(NULL, n);
		snprintf(key, n, "%s%s%s", prefix, *prefix ? "." : "",
		    e->string);
		print_flat(key, e);
		free(key);
	}
}

static int
cmd_stats(int argc, char **argv)
{
	cJSON	*r;
	int	 rc = EXIT_SUCCESS;

	positionals(argc, argv, 0, 0, "stats");
	if (simple_request(ctl_new_cmd("stats"), &r) == -1)
		rc = EXIT_DAEMON;
	else if (!ctl_opt.json)
		print_flat("", cJSON_GetObjectItemCaseSensitive(r, "stats"));
	cJSON_Delete(r);
	return rc;
}

/* The text as the daemon wrote it: ready for a scraper or a file. */
static int
cmd_metrics(int argc, char **argv)
{
	const cJSON	*t;
	cJSON		*r;
	int		 rc = EXIT_SUCCESS;

	positionals(argc, argv, 0, 0, "metrics");
	if (simple_request(ctl_new_cmd("metrics"), &r) == -1)
		rc = EXIT_DAEMON;
	else if (!ctl_opt.json) {
		t = cJSON_GetObjectItemCaseSensitive(r, "text");
		if (cJSON_IsString(t))
			fputs(t->valuestring, stdout);
	}
	cJSON_Delete(r);
	return rc;
}

static int
cmd_reload(int argc, char **argv)
{
	const cJSON	*e, *probs;
	cJSON		*r;
	int		 rc = EXIT_SUCCESS;

	positionals(argc, argv, 0, 0, "reload");
	if (simple_request(ctl_new_cmd("reload"), &r) == -1) {
		rc = EXIT_DAEMON;
		probs = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(r, "error"), "problems");
		cJSON_ArrayForEach(e, probs) {
			ctl_put_value(e, stderr);
			fputc('\n', stderr);
		}
	} else if (!ctl_opt.json) {
		printf("generation ");
		ctl_put_value(cJSON_GetObjectItemCaseSensitive(r, "generation"),
		    stdout);
		putchar('\n');
	}
	cJSON_Delete(r);
	return rc;
}

static int
cmd_ack(int argc, char **argv)
{
	unsigned long long	 id;
	cJSON			*req, *r;
	int			 rc = EXIT_SUCCESS;

	positionals(argc, argv, 1, 1, "ack ID");
	if (parse_uint(argv[1], &id) == -1)
		ctl_usage_error("ack: bad alert id '%s'", argv[1]);
	req = ctl_new_cmd("ack");
	cJSON_AddNumberToObject(req, "alert", (double)id);
	if (simple_request(req, &r) == -1)
		rc = EXIT_DAEMON;
	cJSON_Delete(r);
	return rc;
}

/* get: the entity, one fact per line. */

static void
print_history_item(const cJSON *h)
{
	const char	*rule = ctl_str_item(h, "rule");

	putchar(' ');
	if (!cJSON_IsObject(h) || rule == NULL ||
	    !cJSON_HasObjectItem(h, "to")) {
		putchar(' ');
		ctl_put_value(h, stdout);
		putchar('\n');
		return;
	}
	putchar(' ');
	ctl_put_value(cJSON_GetObjectItemCaseSensitive(h, "ts"), stdout);
	printf(" %s: ", rule);
	ctl_put_value(cJSON_GetObjectItemCaseSensitive(h, "from"), stdout);
	printf(" -> ");
	ctl_put_value(cJSON_GetObjectItemCaseSensitive(h, "to"), stdout);
	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(h, "event"))) {
		printf(" (event ");
		ctl_put_value(cJSON_GetObjectItemCaseSensitive(h, "event"),
		    stdout);
		putchar(')');
	}
	putchar('\n');
}

static void
print_entity(const cJSON *e)
{
	const cJSON	*v, *s;

	ctl_put_value(cJSON_GetObjectItemCaseSensitive(e, "kind"), stdout);
	putchar(' ');
	ctl_put_value(cJSON_GetObjectItemCaseSensitive(e, "id"), stdout);
	putchar('\n');
	cJSON_ArrayForEach(v, e) {
		if (strcmp(v->string, "kind") == 0 ||
		    strcmp(v->string, "id") == 0)
			continue;
		printf("%s:", v->string);
		if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) {
			putchar(' ');
			ctl_put_value(v, stdout);
			putchar('\n');
			continue;
		}
		if (cJSON_GetArraySize(v) == 0)
			printf(" (none)");
		putchar('\n');
		cJSON_ArrayForEach(s, v) {
			if (cJSON_IsArray(v)) {
				print_history_item(s);
				continue;
			}
			printf("  %s: ", s->string);
			ctl_put_value(s, stdout);
			putchar('\n');
		}
	}
}

static int
cmd_get(int argc, char **argv)
{
	cJSON	*req, *r;
	int	 rc = EXIT_SUCCESS;

	positionals(argc, argv, 2, 2, "get KIND ID");
	req = ctl_new_cmd("get");
	cJSON_AddStringToObject(req, "kind", argv[1]);
	cJSON_AddStringToObject(req, "id", argv[2]);
	if (simple_request(req, &r) == -1)
		rc = EXIT_DAEMON;
	else if (!ctl_opt.json)
		print_entity(cJSON_GetObjectItemCaseSensitive(r, "entity"));
	cJSON_Delete(r);
	return rc;
}

/* alerts */

struct alerts_query {
	unsigned long long	 after;
	unsigned long long	 limit;		/* 0: no limit */
	const char		*rule;
	int			 follow;
	int			 unacked;	/* only unacknowledged */
	int			 silenced;	/* silenced ones too */
};

static unsigned long long
alert_id(const cJSON *a)
{
	const cJSON	*id = cJSON_GetObjectItemCaseSensitive(a, "id");

	if (!cJSON_IsNumber(id) || id->valuedouble < 0)
		ctl_die(EXIT_CONN, "protocol error: alert without an id");
	return (unsigned long long)id->valuedouble;
}

/*
 * Page through `alerts` from q->after, printing each; returns the last
 * id printed (q->after if none). *failed is set if the daemon answered an
 * error, which has been reported.
 */
static unsigned long long
alerts_pages(struct ctl_conn *c, const struct alerts_query *q, int *failed)
{
	unsigned long long	 last = q->after, left = q->limit, id, n;
	const cJSON		*a, *list;
	cJSON			*req, *r;
	int			 count;

	*failed = 0;
	for (;;) {
		n = q->limit == 0 || left > ALERTS_PAGE ? ALERTS_PAGE : left;
		req = ctl_new_cmd("alerts");
		cJSON_AddNumberToObject(req, "after", (double)last);
		cJSON_AddNumberToObject(req, "limit", (double)n);
		if (q->rule != NULL)
			cJSON_AddStringToObject(req, "rule", q->rule);
		if (q->unacked)
			cJSON_AddFalseToObject(req, "acked");
		if (q->silenced)
			cJSON_AddTrueToObject(req, "silenced");
		r = ctl_conn_request(c, req, 0);
		if (ctl_check_ok(r) == -1) {
			cJSON_Delete(r);
			*failed = 1;
			return last;
		}
		list = cJSON_GetObjectItemCaseSensitive(r, "alerts");
		if (!cJSON_IsArray(list))
			ctl_die(EXIT_CONN, "protocol error: alerts without a list");
		count = 0;
		cJSON_ArrayForEach(a, list) {
			if ((id = alert_id(a)) <= last)
				ctl_die(EXIT_CONN, "protocol error: alert %llu "
				    "after %llu", id, last);
			print_alert(a);
			last = id;
			count++;
			if (q->limit != 0 && --left == 0)
				break;
		}
		cJSON_Delete(r);
		ctl_flush();
		if (count == 0 || (q->limit != 0 && left == 0))
			return last;
	}
}

static void
on_signal(int sig)
{
	(void)sig;
	ctl_interrupted = 1;
}

/*
 * Subscribe first, then print the history, then the subscribed alerts
 * newer than the last one printed: the two overlap and nothing is lost.
 * The history comes over a second connection so that the subscription's
 * lines never mix with answers.
 */
static int
alerts_follow(const struct alerts_query *q)
{
	struct sigaction	 sa;
	struct ctl_conn		*sub, *c;
	unsigned long long	 last, id;
	const cJSON		*a;
	const char		*rule;
	cJSON			*r;
	char			*line;
	size_t			 len;
	int			 failed;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;	/* no SA_RESTART: reads see EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	sub = ctl_conn_open();
	r = ctl_conn_request(sub, ctl_new_cmd("subscribe"), 0);
	if (ctl_check_ok(r) == -1) {
		cJSON_Delete(r);
		return EXIT_DAEMON;
	}
	cJSON_Delete(r);
	c = ctl_conn_open();
	last = alerts_pages(c, q, &failed);
	ctl_conn_close(c);
	if (failed)
		return EXIT_DAEMON;
	for (;;) {
		line = ctl_conn_line(sub, &len);
		r = ctl_parse_object(line);
		if (r == NULL)
			ctl_die(EXIT_CONN, "protocol error: unexpected line: %.200s",
			    line);
		a = cJSON_GetObjectItemCaseSensitive(r, "alert");
		if (cJSON_IsObject(a) && (id = alert_id(a)) > last) {
			rule = ctl_str_item(a, "rule");
			if (q->rule == NULL ||
			    (rule != NULL && strcmp(rule, q->rule) == 0)) {
				print_alert(a);
				ctl_flush();
			}
			last = id;
		}
		cJSON_Delete(r);
	}
}

static int
cmd_alerts(int argc, char **argv)
{
	struct alerts_query	 q;
	struct ctl_conn		*c;
	const char		*v;
	int			 i, failed;

	memset(&q, 0, sizeof q);
	for (i = 1; i < argc; i++) {
		if ((v = ctl_opt_value(argc, argv, &i, "--after")) != NULL) {
			if (parse_uint(v, &q.after) == -1)
				ctl_usage_error("alerts: bad --after '%s'", v);
		} else if ((v = ctl_opt_value(argc, argv, &i, "--limit")) != NULL) {
			if (parse_uint(v, &q.limit) == -1 || q.limit == 0)
				ctl_usage_error("alerts: bad --limit '%s'", v);
		} else if ((v = ctl_opt_value(argc, argv, &i, "--rule")) != NULL)
			q.rule = v;
		else if (strcmp(argv[i], "--follow") == 0 ||
		    strcmp(argv[i], "-f") == 0)
			q.follow = 1;
		else if (strcmp(argv[i], "--unacked") == 0)
			q.unacked = 1;
		else if (strcmp(argv[i], "--silenced") == 0)
			q.silenced = 1;
		else
			ctl_usage_error("alerts: unknown argument '%s'", argv[i]);
	}
	if (q.follow && q.limit != 0)
		ctl_usage_error("alerts: %s cannot be used with --follow",
		    "--limit");
	if (q.follow)
		return alerts_follow(&q);
	c = ctl_conn_open();
	alerts_pages(c, &q, &failed);
	ctl_conn_close(c);
	return failed ? EXIT_DAEMON : EXIT_SUCCESS;
}

/* The socket path: --socket, the config's `socket:`, or the default. */

static char *
conf_socket(const char *conf)
{
	yaml_parser_t	 parser;
	yaml_document_t	 doc;
	yaml_node_t	*root, *k, *v;
	yaml_node_pair_t *pair;
	FILE		*f;
	char		*sock = NULL, *path;
	const char	*slash;
	size_t		 n;

	if ((f = fopen(conf, "r")) == NULL)
		ctl_die(EXIT_USAGE, "%s: %s", conf, strerror(errno));
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc))
		ctl_die(EXIT_USAGE, "%s:%zu:%zu: error: %s", conf,
		    parser.problem_mark.line + 1,
		    parser.problem_mark.column + 1,
		    parser.problem ? parser.problem : "bad YAML");
	root = yaml_document_get_root_node(&doc);
	if (root != NULL && root->type == YAML_MAPPING_NODE) {
		for (pair = root->data.mapping.pairs.start;
		    pair < root->data.mapping.pairs.top; pair++) {
			k = yaml_document_get_node(&doc, pair->key);
			v = yaml_document_get_node(&doc, pair->value);
			if (k == NULL || k->type != YAML_SCALAR_NODE ||
			    strcmp((char *)k->data.scalar.value, "socket") != 0)
				continue;
			if (v == NULL || v->type != YAML_SCALAR_NODE ||
			    v->data.scalar.length == 0)
				ctl_die(EXIT_USAGE, "%s:%zu:%zu: error: socket: "
				    "expected a path", conf,
				    (v ? v : k)->start_mark.line + 1,
				    (v ? v : k)->start_mark.column + 1);
			free(sock);
			sock = ctl_xstrdup((char *)v->data.scalar.value);
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	if (sock == NULL)
		sock = ctl_xstrdup(DEFAULT_SOCKET);
	if (sock[0] == '/' || (slash = strrchr(conf, '/')) == NULL)
		return sock;
	/* Relative to the config file's folder. */
	n = (size_t)(slash - conf) + 1 + strlen(sock) + 1;
	path = ctl_xrealloc(NULL, n);
	snprintf(path, n, "%.*s/%s", (int)(slash - conf), conf, sock);
	free(sock);
	return path;
}

static char *
socket_path(void)
{
	if (ctl_opt.socket != NULL)
		return ctl_xstrdup(ctl_opt.socket);
	if (ctl_opt.conf != NULL)
		return conf_socket(ctl_opt.conf);
	if (access(DEFAULT_CONF, F_OK) == 0)
		return conf_socket(DEFAULT_CONF);
	return ctl_xstrdup(DEFAULT_SOCKET);
}

static const struct cmd_entry {
	const char	*name;
	int		(*exec)(int, char **);
} cmd_table[] = {
	{ "push",	cmd_push },
	{ "get",	cmd_get },
	{ "alerts",	cmd_alerts },
	{ "ping",	cmd_ping },
	{ "stats",	cmd_stats },
	{ "reload",	cmd_reload },
	{ "ack",	cmd_ack },
	{ "test",	ctl_test },
	{ "backtest",	ctl_backtest },
	/* issue 13 */
	{ "metrics",	cmd_metrics },
	{ "explain",	ctl_explain },
	{ "map",	ctl_map },
	/* ctl-silence.c */
	{ "silence",	ctl_silence },
	{ "silences",	ctl_silences },
	{ "unsilence",	ctl_unsilence },
	{ "export",	ctl_export },
};

int
main(int argc, char **argv)
{
	const struct cmd_entry	*cmd = NULL;
	char			**args;
	const char		*v;
	int			 i, n = 0, dashdash = 0, rc;
	size_t			 j;

	signal(SIGPIPE, SIG_IGN);
	/* Global options may come anywhere before "--"; the rest is the command's. */
	args = ctl_xrealloc(NULL, sizeof *args * ((size_t)argc + 1));
	for (i = 1; i < argc; i++) {
		if (dashdash) {
			args[n++] = argv[i];
			continue;
		}
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0 ||
		    (n == 0 && strcmp(argv[i], "help") == 0)) {
			fputs(usage_text, stdout);
			free(args);
			return EXIT_SUCCESS;
		}
		if (strcmp(argv[i], "--json") == 0)
			ctl_opt.json = 1;
		else if ((v = ctl_opt_value(argc, argv, &i, "--socket")) != NULL)
			ctl_opt.socket = v;
		else if ((v = ctl_opt_value(argc, argv, &i, "--config")) != NULL ||
		    (v = ctl_opt_value(argc, argv, &i, "-c")) != NULL)
			ctl_opt.conf = v;
		else if (strncmp(argv[i], "-c", 2) == 0 && n == 0)
			ctl_opt.conf = argv[i] + 2;
		else {
			if (strcmp(argv[i], "--") == 0)
				dashdash = 1;
			args[n++] = argv[i];
		}
	}
	args[n] = NULL;
	if (n == 0 || (ctl_opt.socket != NULL && *ctl_opt.socket == '\0') ||
	    (ctl_opt.conf != NULL && *ctl_opt.conf == '\0')) {
		fputs(usage_text, stderr);
		free(args);
		return EXIT_USAGE;
	}
	for (j = 0; j < sizeof cmd_table / sizeof cmd_table[0]; j++)
		if (strcmp(args[0], cmd_table[j].name) == 0)
			cmd = &cmd_table[j];
	if (cmd == NULL)
		ctl_usage_error("unknown command '%s'", args[0]);
	/* every command but test, backtest and export talks to a daemon */
	if (strcmp(cmd->name, "test") != 0 &&
	    strcmp(cmd->name, "backtest") != 0 &&
	    strcmp(cmd->name, "export") != 0)
		ctl_opt.path = socket_path();
	rc = cmd->exec(n, args);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "zhilictl: stdout: %s\n", strerror(errno));
		if (rc == EXIT_SUCCESS)
			rc = EXIT_DAEMON;
	}
	free(ctl_opt.path);
	free(args);
	return rc;
}

