/*
 * zhilid: the governance rule engine daemon.  Runs in the foreground under
 * systemd (or a terminal), logs to stderr with sd-daemon prefixes.
 *
 *   zhilid -c zhilid.conf        run
 *   zhilid -t -c zhilid.conf     check the config and every rule file
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "server.h"
#include "store.h"

static void
usage(void)
{
	fprintf(stderr, "usage: zhilid [-tvV] [-c config]\n"
	    "  -c config  configuration file (default ./zhilid.conf)\n"
	    "  -t         check the configuration and rule files, then exit\n"
	    "  -v         verbose (debug) logging\n"
	    "  -V         print the version\n");
	exit(2);
}

static int
report(struct errs *errs)
{
	size_t i;

	for (i = 0; i < errs->n; i++)
		fprintf(stderr, "%s\n", errs->v[i]);
	errs_free(errs);
	return 1;
}

/*
 * zhilid -t: warn (the check still passes) about the rules whose outcomes
 * the configured tests never reach, or about there being no tests.
 */
static void
warn_untested(const struct conf *conf, const struct ruleset *rs,
    const struct coverage *cov)
{
	struct errs warn = { 0 };
	size_t i;

	if (conf->ntests == 0) {
		fprintf(stderr, "%s: warning: no rule tests (key tests): no "
		    "rule's outcomes are tested\n", conf->path);
		return;
	}
	coverage_unreached(cov, rs, &warn);
	for (i = 0; i < warn.n; i++)
		fprintf(stderr, "%s\n", warn.v[i]);
	errs_free(&warn);
}

int
main(int argc, char **argv)
{
	const char *conf_path = "zhilid.conf";
	struct errs errs = { 0 };
	struct conf *conf;
	struct ruleset *rs;
	struct store *store;
	struct engine *eng;
	struct server srv;
	struct ev_loop *loop;
	char *cause = NULL;
	struct coverage *cov;
	int ch, check = 0, verbose = 0, passed;

	while ((ch = getopt(argc, argv, "c:tvVh")) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 't':
			check = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'V':
			printf("zhilid %s\n", ZHILID_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	log_init(verbose, 1);

	if ((conf = conf_load(conf_path, &errs)) == NULL)
		return report(&errs);
	clock_set_zone(conf->timezone);
	if ((rs = ruleset_load(conf->rules, conf->nrules, &errs)) == NULL) {
		conf_free(conf);
		return report(&errs);
	}
	/* with -t, which outcomes of the rules the tests reach, too */
	cov = check ? coverage_new() : NULL;
	if (ruletest_all(conf->tests, conf->ntests, &errs, &passed,
	    cov) != 0) {
		coverage_free(cov);
		ruleset_free(rs);
		conf_free(conf);
		return report(&errs);
	}
	clock_set_zone(conf->timezone);		/* the tests set theirs */
	if (check) {
		warn_untested(conf, rs, cov);
		coverage_free(cov);
		printf("configuration ok: %zu rule files, %zu rules", rs->nfiles,
		    rs->nrules);
		if (conf->ntests > 0)
			printf(", %d rule tests passed", passed);
		printf("\n");
		ruleset_free(rs);
		conf_free(conf);
		return 0;
	}
	conf_resolve_access(conf, 0);

	if ((store = store_open(conf->database, conf->durability,
	    &cause)) == NULL) {
		log_warnx("database: %s", cause);
		free(cause);
		ruleset_free(rs);
		conf_free(conf);
		return 1;
	}
	eng = engine_new(rs, store, conf->clock, (size_t)conf->entity_cache);
	/* a standby has no state of its own: it loads at takeover */
	if (store_role(store, NULL) != STORE_ACTIVE)
		engine_standby(eng);
	else if (engine_load(eng) != 0) {
		log_warnx("%s: cannot read the rules' state (facts, timers)",
		    conf->database);
		engine_free(eng);
		store_close(store);
		ruleset_free(rs);
		conf_free(conf);
		return 1;
	}
	/*
	 * Not libev's default loop: its SIGCHLD handler reaps every child,
	 * and the exec outputs' threads read how their programs ended.
	 */
	if ((loop = ev_loop_new(EVFLAG_AUTO)) == NULL)
		fatalx("cannot start the event loop");
	if (server_init(&srv, loop, conf, conf_path, rs, eng, store) != 0) {
		server_free(&srv);
		engine_free(eng);
		store_close(store);
		ruleset_free(rs);
		conf_free(conf);
		ev_loop_destroy(loop);
		return 1;
	}
	log_info("zhilid %s ready: socket %s, database %s, %zu rules from "
	    "%zu files, clock %s", ZHILID_VERSION, conf->socket,
	    conf->database, rs->nrules, rs->nfiles,
	    conf->clock == CLOCK_EVENT ? "event" : "wall");
	notify_send("READY=1\nSTATUS=generation 1, ready; %s\nMAINPID=%ld",
	    srv.term != 0 ? "active" : "standby (another zhilid holds the "
	    "database's lock)", (long)getpid());

	ev_run(loop, 0);

	server_sync(&srv);
	rs = srv.rs;		/* a reload may have replaced it */
	server_free(&srv);
	engine_free(eng);
	store_close(store);
	ruleset_free(rs);
	conf_free(conf);
	ev_loop_destroy(loop);
	log_info("stopped");
	return 0;
}
