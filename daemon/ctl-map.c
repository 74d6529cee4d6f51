/*
 * zhilictl map: a classify rule's map as one self-contained HTML page (or a
 * folder of them), drawn from the daemon's `map` command (zhilid(8)).
 *
 * The page needs nothing but itself: inline CSS and SVG, no script, no
 * font or image fetched, so that it shows on an offline intranet, on a
 * wall screen and on paper.  Colour is never the only carrier: every bar
 * and panel spells each class's label and count beside its colour, for
 * colour-blind readers and black-and-white printers.
 *
 * Markup that scripts and tests read (zhilictl(1)): every square of an
 * entity carries data-id and data-class; every tile of a group
 * data-FIELD (the kind's first field, e.g. data-community), data-KINDs
 * (its live entities, e.g. data-households) and data-CLASS per class;
 * every panel data-FIELD2 (the second field) and the same counts.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ctl.h"

#define SQ		14	/* an entity's square, px */
#define SQ_GAP		2
#define SQ_COLS		40	/* squares a row: a panel 640 px wide */
#define BAR_W		300
#define BAR_H		20
#define MAX_CLASSES	64

/* Colours for the classes that declare none. */
static const char *const palette[] = { "#1b9e77", "#d95f02", "#7570b3",
    "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666" };

struct mclass {
	const char	*name, *label, *color;
	long long	 total;
};

/* What the daemon answered, over all pages. */
struct map {
	cJSON		**pages;	/* the answers, owning what follows */
	size_t		  npages;
	const cJSON	**items;	/* groups or entities, in order */
	size_t		  n, cap;
	struct mclass	  cls[MAX_CLASSES];
	size_t		  ncls;
	const char	 *rule, *kind, *title, *by, *within, *read, *group;
	long long	  generation;
};

static void
map_free(struct map *m)
{
	size_t	 i;

	for (i = 0; i < m->npages; i++)
		cJSON_Delete(m->pages[i]);
	free(m->pages);
	free(m->items);
	memset(m, 0, sizeof *m);
}

static const char *
need_str(const cJSON *o, const char *key)
{
	const char	*s = ctl_str_item(o, key);

	if (s == NULL)
		ctl_die(EXIT_CONN, "protocol error: map answer without %s", key);
	return s;
}

/* The header of the first page: rule, kind, classes, ... */
static void
map_head(struct map *m, const cJSON *mo)
{
	const cJSON	*c, *classes, *gen;

	m->rule = need_str(mo, "rule");
	m->kind = need_str(mo, "kind");
	m->by = need_str(mo, "by");
	m->read = need_str(mo, "read");
	m->title = ctl_str_item(mo, "title");
	m->within = ctl_str_item(mo, "within");
	gen = cJSON_GetObjectItemCaseSensitive(mo, "generation");
	m->generation = cJSON_IsNumber(gen) ? (long long)gen->valuedouble : 0;
	classes = cJSON_GetObjectItemCaseSensitive(mo, "classes");
	cJSON_ArrayForEach(c, classes) {
		struct mclass	*k = &m->cls[m->ncls];

		if (m->ncls == MAX_CLASSES)
			ctl_die(EXIT_CONN, "protocol error: more than %d "
			    "classes", MAX_CLASSES);
		k->name = need_str(c, "class");
		k->label = need_str(c, "label");
		k->color = ctl_str_item(c, "color");
		if (k->color == NULL)
			k->color = palette[m->ncls % (sizeof palette /
			    sizeof palette[0])];
		m->ncls++;
	}
	if (m->ncls == 0)
		ctl_die(EXIT_CONN, "protocol error: map answer without classes");
}

/*
 * Every page of the map of rule (NULL: the daemon's default), for one
 * group or (NULL) the overview.  0, or -1 if the daemon refused.
 */
static int
map_fetch(struct ctl_conn *c, const char *rule, const char *group,
    struct map *m)
{
	const char	*after = NULL;
	const cJSON	*mo, *list, *it, *next;
	cJSON		*req, *r;

	for (;;) {
		req = ctl_new_cmd("map");
		if (rule != NULL)
			cJSON_AddStringToObject(req, "rule", rule);
		if (group != NULL)
			cJSON_AddStringToObject(req, "group", group);
		if (after != NULL)
			cJSON_AddStringToObject(req, "after", after);
		r = ctl_conn_request(c, req, 0);
		if (ctl_check_ok(r) == -1) {
			cJSON_Delete(r);
			return -1;
		}
		m->pages = ctl_xrealloc(m->pages, (m->npages + 1) *
		    sizeof *m->pages);
		m->pages[m->npages++] = r;
		mo = cJSON_GetObjectItemCaseSensitive(r, "map");
		if (m->npages == 1)
			map_head(m, mo);
		list = cJSON_GetObjectItemCaseSensitive(mo, group != NULL ?
		    "entities" : "groups");
		if (!cJSON_IsArray(list))
			ctl_die(EXIT_CONN, "protocol error: map answer without "
			    "a list");
		cJSON_ArrayForEach(it, list) {
			if (m->n == m->cap) {
				m->cap = m->cap ? 2 * m->cap : 256;
				m->items = ctl_xrealloc(m->items, m->cap *
				    sizeof *m->items);
			}
			m->items[m->n++] = it;
		}
		next = cJSON_GetObjectItemCaseSensitive(mo, "next");
		if (!cJSON_IsString(next))
			break;
		if (after != NULL && strcmp(after, next->valuestring) >= 0)
			ctl_die(EXIT_CONN, "protocol error: map page after "
			    "'%s' is not after it", after);
		after = next->valuestring;
	}
	m->group = group;
	return 0;
}

/* HTML */

static void
esc(FILE *f, const char *s)
{
	for (; *s != '\0'; s++)
		switch (*s) {
		case '&':	fputs("&amp;", f); break;
		case '<':	fputs("&lt;", f); break;
		case '>':	fputs("&gt;", f); break;
		case '"':	fputs("&quot;", f); break;
		case '\'':	fputs("&#39;", f); break;
		default:
			/* no control characters in a page */
			fputc((unsigned char)*s < 0x20 ? ' ' : *s, f);
		}
}

/*
 * A group's page's file name: the field, "-", the id with every byte
 * outside [A-Za-z0-9_-] and UTF-8 as %XX, ".html"; `url` encodes it once
 * more for an href (every byte outside [A-Za-z0-9._-] as %XX).
 */
static void
page_name(FILE *f, const char *field, const char *id, int url)
{
	const unsigned char	*p;
	char			 name[4096];
	size_t			 n;

	n = (size_t)snprintf(name, sizeof name, "%s-", field);
	for (p = (const unsigned char *)id; *p != '\0' && n + 4 < sizeof name;
	    p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		    *p >= 0x80)
			name[n++] = (char)*p;
		else
			n += (size_t)snprintf(name + n, sizeof name - n, "%%%02X",
			    *p);
	}
	snprintf(name + n, sizeof name - n, ".html");
	if (!url) {
		fputs(name, f);
		return;
	}
	for (p = (const unsigned char *)name; *p != '\0'; p++)
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		    *p == '.')
			fputc(*p, f);
		else
			fprintf(f, "%%%02X", *p);
}

/* Black or white text, whichever reads better on colour c ("#rrggbb"). */
static const char *
ink(const char *c)
{
	unsigned long	 v = strtoul(c + 1, NULL, 16);
	double		 y = 0.299 * (double)(v >> 16 & 0xff) +
	    0.587 * (double)(v >> 8 & 0xff) + 0.114 * (double)(v & 0xff);

	return y > 150 ? "#000" : "#fff";
}

static const char css[] =
"body{font-family:\"Noto Sans CJK SC\",\"Source Han Sans SC\",\"WenQuanYi "
"Micro Hei\",\"Microsoft YaHei\",sans-serif;margin:16px;color:#222;"
"background:#fff}\n"
"h1{font-size:22px;margin:0 0 4px}\n"
"p.meta{color:#555;margin:0 0 12px;font-size:13px}\n"
"ul.legend,ul.counts{list-style:none;padding:0;margin:4px 0 10px;"
"display:flex;flex-wrap:wrap;gap:4px 14px;font-size:13px}\n"
"ul.counts{font-size:12px;margin:4px 0}\n"
".tile ul.counts{display:grid;grid-template-columns:auto auto;"
"white-space:nowrap}\n"
"svg.sw{display:inline-block;margin-right:4px;vertical-align:-1px}\n"
".tiles{display:flex;flex-wrap:wrap;gap:10px}\n"
".tile{display:block;width:330px;padding:8px 10px;border:1px solid #bbb;"
"border-radius:4px;color:inherit;text-decoration:none;break-inside:avoid}\n"
".tile h2,.panel h2{font-size:16px;margin:0}\n"
".tile .total,.panel .total{font-weight:normal;color:#444;font-size:13px;"
"margin-left:8px}\n"
".panel{border:1px solid #bbb;border-radius:4px;padding:8px 10px;"
"margin:0 0 10px;break-inside:avoid}\n"
"svg{display:block;-webkit-print-color-adjust:exact;"
"print-color-adjust:exact}\n"
"svg text{font-size:11px;pointer-events:none}\n"
"@media print{body{margin:0}.tile,.panel{border-color:#000}}\n";

static void
page_head(FILE *f, const struct map *m, const char *what)
{
	const char	*title = m->title != NULL ? m->title : m->rule;

	fputs("<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\">\n"
	    "<meta name=\"generator\" content=\"zhilictl map\">\n<title>", f);
	if (what != NULL) {
		esc(f, what);
		fputs(" — ", f);
	}
	esc(f, title);
	fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>",
	    css);
	if (what != NULL) {
		esc(f, what);
		fputs(" · ", f);
	}
	esc(f, title);
	fputs("</h1>\n<p class=\"meta\">规则 <code>", f);
	esc(f, m->rule);
	fprintf(f, "</code>（第 %lld 版规则）· 数据读取于 <time>", m->generation);
	esc(f, m->read);
	fputs("</time></p>\n", f);
}

/* The classes with their labels, colours and counts n (NULL: totals). */
static void
counts_list(FILE *f, const struct map *m, const char *cls,
    const long long *n)
{
	size_t	 c;

	fprintf(f, "<ul class=\"%s\">", cls);
	for (c = 0; c < m->ncls; c++) {
		fprintf(f, "<li data-class=\"");
		esc(f, m->cls[c].name);
		fprintf(f, "\"><svg class=\"sw\" width=\"12\" height=\"12\" "
		    "aria-hidden=\"true\"><rect width=\"12\" height=\"12\" "
		    "fill=\"%s\" stroke=\"#555\"/></svg>", m->cls[c].color);
		esc(f, m->cls[c].label);
		fprintf(f, " <b>%lld</b></li>", n != NULL ? n[c] :
		    m->cls[c].total);
	}
	fputs("</ul>\n", f);
}

/* data-CLASS="N" for every class. */
static void
count_attrs(FILE *f, const struct map *m, const long long *n, long long all)
{
	size_t	 c;

	fprintf(f, " data-%ss=\"%lld\"", m->kind, all);
	for (c = 0; c < m->ncls; c++) {
		fputs(" data-", f);
		esc(f, m->cls[c].name);
		fprintf(f, "=\"%lld\"", n[c]);
	}
}

/* A bar split by class, each segment's count written in it if it fits. */
static void
bar(FILE *f, const struct map *m, const long long *n, long long all)
{
	double	 x = 0, w;
	size_t	 c;

	fprintf(f, "<svg class=\"bar\" width=\"%d\" height=\"%d\" viewBox=\"0 0 "
	    "%d %d\" role=\"img\" aria-label=\"", BAR_W, BAR_H, BAR_W, BAR_H);
	for (c = 0; c < m->ncls; c++) {
		esc(f, m->cls[c].label);
		fprintf(f, " %lld%s", n[c], c + 1 < m->ncls ? "，" : "");
	}
	fprintf(f, "\"><rect width=\"%d\" height=\"%d\" fill=\"#fff\" "
	    "stroke=\"#888\"/>", BAR_W, BAR_H);
	for (c = 0; c < m->ncls && all > 0; c++) {
		if (n[c] == 0)
			continue;
		w = (double)BAR_W * (double)n[c] / (double)all;
		fprintf(f, "<rect x=\"%.1f\" width=\"%.1f\" height=\"%d\" "
		    "fill=\"%s\" data-class=\"", x, w, BAR_H, m->cls[c].color);
		esc(f, m->cls[c].name);
		fputs("\"><title>", f);
		esc(f, m->cls[c].label);
		fprintf(f, " %lld</title></rect>", n[c]);
		if (w >= 8.0 * (double)snprintf(NULL, 0, "%lld", n[c]) + 4)
			fprintf(f, "<text x=\"%.1f\" y=\"14.5\" fill=\"%s\" "
			    "text-anchor=\"middle\">%lld</text>", x + w / 2,
			    ink(m->cls[c].color), n[c]);
		x += w;
	}
	fputs("</svg>\n", f);
}

static long long
num(const cJSON *o, const char *key)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v))
		ctl_die(EXIT_CONN, "protocol error: map answer without %s", key);
	return (long long)v->valuedouble;
}

/* The overview: one tile per group, linking its page. */
static void
overview_page(FILE *f, const struct map *m)
{
	long long	 n[MAX_CLASSES];
	struct map	*mm = (struct map *)m;
	const cJSON	*counts;
	const char	*id;
	size_t		 i, c;

	for (c = 0; c < m->ncls; c++)
		mm->cls[c].total = 0;
	for (i = 0; i < m->n; i++) {
		counts = cJSON_GetObjectItemCaseSensitive(m->items[i],
		    "counts");
		for (c = 0; c < m->ncls; c++)
			mm->cls[c].total += num(counts, m->cls[c].name);
	}
	page_head(f, m, NULL);
	counts_list(f, m, "legend", NULL);
	fputs("<main class=\"tiles\">\n", f);
	for (i = 0; i < m->n; i++) {
		id = need_str(m->items[i], "id");
		counts = cJSON_GetObjectItemCaseSensitive(m->items[i],
		    "counts");
		for (c = 0; c < m->ncls; c++)
			n[c] = num(counts, m->cls[c].name);
		fputs("<a class=\"tile\" href=\"", f);
		page_name(f, m->by, id, 1);
		fprintf(f, "\" data-%s=\"", m->by);
		esc(f, id);
		fputc('"', f);
		count_attrs(f, m, n, num(m->items[i], "total"));
		fputs(">\n<h2>", f);
		esc(f, id);
		fprintf(f, "<span class=\"total\">共 %lld</span></h2>\n",
		    num(m->items[i], "total"));
		bar(f, m, n, num(m->items[i], "total"));
		counts_list(f, m, "counts", n);
		fputs("</a>\n", f);
	}
	fputs("</main>\n</body>\n</html>\n", f);
}

static size_t
class_of(const struct map *m, const cJSON *e)
{
	const char	*name = need_str(e, "class");
	size_t		 c;

	for (c = 0; c < m->ncls; c++)
		if (strcmp(m->cls[c].name, name) == 0)
			return c;
	return m->ncls - 1;
}

static const char *
within_of(const struct map *m, const cJSON *e)
{
	const char	*s = m->within != NULL ? ctl_str_item(e, m->within) :
	    NULL;

	return s != NULL ? s : "";
}

static const struct map *sort_map;

/* Panels in order of the second field, entities in id order within. */
static int
by_within(const void *a, const void *b)
{
	const cJSON	*x = *(const cJSON *const *)a;
	const cJSON	*y = *(const cJSON *const *)b;
	int		 d = strcmp(within_of(sort_map, x), within_of(sort_map, y));

	return d != 0 ? d : strcmp(need_str(x, "id"), need_str(y, "id"));
}

/* An entity's tooltip: id, class label, the values that placed it. */
static void
tooltip(FILE *f, const struct map *m, const cJSON *e, size_t c)
{
	const cJSON	*why = cJSON_GetObjectItemCaseSensitive(e, "why"), *v;
	char		*s;

	esc(f, need_str(e, "id"));
	fputs(" ", f);
	esc(f, m->cls[c].label);
	cJSON_ArrayForEach(v, why) {
		if (cJSON_IsNull(v))	/* not recorded: read as absent */
			continue;
		fputs(" ", f);
		esc(f, v->string);
		fputc('=', f);
		if (cJSON_IsString(v))
			esc(f, v->valuestring);
		else if ((s = cJSON_PrintUnformatted(v)) != NULL) {
			esc(f, s);
			free(s);
		}
	}
}

/* One panel: the entities items[from..to) of one value of the field. */
static void
panel(FILE *f, const struct map *m, size_t from, size_t to)
{
	long long	 n[MAX_CLASSES] = { 0 };
	const char	*w = within_of(m, m->items[from]);
	size_t		 i, c, rows = (to - from + SQ_COLS - 1) / SQ_COLS;
	int		 x, y;

	for (i = from; i < to; i++)
		n[class_of(m, m->items[i])]++;
	fputs("<section class=\"panel\"", f);
	if (m->within != NULL) {
		fprintf(f, " data-%s=\"", m->within);
		esc(f, w);
		fputc('"', f);
	}
	count_attrs(f, m, n, (long long)(to - from));
	fputs(">\n<h2>", f);
	esc(f, m->within == NULL ? m->group : *w != '\0' ? w : "—");
	fprintf(f, "<span class=\"total\">共 %zu</span></h2>\n", to - from);
	counts_list(f, m, "counts", n);
	fprintf(f, "<svg width=\"%d\" height=\"%zu\" viewBox=\"0 0 %d %zu\">\n",
	    SQ_COLS * (SQ + SQ_GAP), rows * (SQ + SQ_GAP),
	    SQ_COLS * (SQ + SQ_GAP), rows * (SQ + SQ_GAP));
	for (i = from; i < to; i++) {
		c = class_of(m, m->items[i]);
		x = (int)((i - from) % SQ_COLS) * (SQ + SQ_GAP);
		y = (int)((i - from) / SQ_COLS) * (SQ + SQ_GAP);
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
		    "fill=\"%s\" data-id=\"", x, y, SQ, SQ, m->cls[c].color);
		esc(f, need_str(m->items[i], "id"));
		fputs("\" data-class=\"", f);
		esc(f, m->cls[c].name);
		fputs("\"><title>", f);
		tooltip(f, m, m->items[i], c);
		fputs("</title></rect>\n", f);
	}
	fputs("</svg>\n</section>\n", f);
}

/* A group's page: one panel per value of the second field. */
static void
group_page(FILE *f, struct map *m)
{
	size_t	 i, from, c;

	sort_map = m;
	if (m->n > 1)
		qsort(m->items, m->n, sizeof *m->items, by_within);
	for (c = 0; c < m->ncls; c++)
		m->cls[c].total = 0;
	for (i = 0; i < m->n; i++)
		m->cls[class_of(m, m->items[i])].total++;
	page_head(f, m, m->group);
	fprintf(f, "<p class=\"meta\"><a href=\"index.html\">总览</a> · "
	    "共 %zu</p>\n", m->n);
	counts_list(f, m, "legend", NULL);
	fputs("<main>\n", f);
	for (from = 0; from < m->n; from = i) {
		for (i = from + 1; i < m->n && strcmp(within_of(m,
		    m->items[i]), within_of(m, m->items[from])) == 0; i++)
			;
		panel(f, m, from, i);
	}
	fputs("</main>\n</body>\n</html>\n", f);
}

/* Output: stdout, or a file written whole and renamed into place. */

struct out {
	FILE	*f;
	char	*path, *tmp;
};

static void
out_open(struct out *o, const char *dir, const char *path)
{
	size_t	 n;
	int	 fd;

	memset(o, 0, sizeof *o);
	if (path == NULL || strcmp(path, "-") == 0) {
		o->f = stdout;
		return;
	}
	n = (dir != NULL ? strlen(dir) + 1 : 0) + strlen(path) + 1;
	o->path = ctl_xrealloc(NULL, n);
	snprintf(o->path, n, "%s%s%s", dir != NULL ? dir : "",
	    dir != NULL ? "/" : "", path);
	o->tmp = ctl_xrealloc(NULL, n + 16);
	snprintf(o->tmp, n + 16, "%s.tmp.XXXXXX", o->path);
	if ((fd = mkstemp(o->tmp)) == -1 || fchmod(fd, 0644) == -1 ||
	    (o->f = fdopen(fd, "w")) == NULL)
		ctl_die(EXIT_USAGE, "%s: %s", o->tmp, strerror(errno));
}

static void
out_close(struct out *o)
{
	if (o->f == stdout)
		return;
	if (fflush(o->f) == EOF || ferror(o->f) || fclose(o->f) == EOF) {
		unlink(o->tmp);
		ctl_die(EXIT_USAGE, "%s: %s", o->tmp, strerror(errno));
	}
	if (rename(o->tmp, o->path) == -1) {
		unlink(o->tmp);
		ctl_die(EXIT_USAGE, "%s: %s", o->path, strerror(errno));
	}
	free(o->path);
	free(o->tmp);
}

/*
 * Remove the pages of groups that are gone (prefix FIELD-, suffix .html,
 * not among the n names written) and temporary files an interrupted run
 * left, so that the folder holds what the overview links and no more.
 */
static void
prune(const char *dir, const char *field, char **keep, size_t n)
{
	struct dirent	*de;
	DIR		*d;
	size_t		 i, fl = strlen(field), l;
	char		 path[4096];

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		l = strlen(de->d_name);
		if (strncmp(de->d_name, field, fl) != 0 ||
		    de->d_name[fl] != '-')
			continue;
		if (strstr(de->d_name, ".html.tmp.") == NULL) {
			if (l < 5 || strcmp(de->d_name + l - 5, ".html") != 0)
				continue;
			for (i = 0; i < n && strcmp(keep[i], de->d_name) != 0;
			    i++)
				;
			if (i < n)
				continue;
		}
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (unlink(path) == -1)
			ctl_warnx("%s: %s", path, strerror(errno));
	}
	closedir(d);
}

/*
 * Every group's page into dir, then index.html, the overview, last; then
 * the pages of groups no longer on it go.
 */
static int
map_dir(struct ctl_conn *c, const char *rule, const char *dir)
{
	struct map	 all, one;
	struct out	 o;
	FILE		*name;
	char		*buf = NULL, **names;
	size_t		 i, len = 0, n = 0;
	int		 rc = EXIT_SUCCESS;

	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		ctl_die(EXIT_USAGE, "%s: %s", dir, strerror(errno));
	memset(&all, 0, sizeof all);
	if (map_fetch(c, rule, NULL, &all) == -1)
		return EXIT_DAEMON;
	names = ctl_xrealloc(NULL, (all.n + 1) * sizeof *names);
	for (i = 0; i < all.n; i++) {
		memset(&one, 0, sizeof one);
		if (map_fetch(c, all.rule, need_str(all.items[i], "id"),
		    &one) == -1) {
			rc = EXIT_DAEMON;
			continue;
		}
		if ((name = open_memstream(&buf, &len)) == NULL)
			ctl_die(EXIT_USAGE, "memory: %s", strerror(errno));
		page_name(name, all.by, one.group, 0);
		fclose(name);
		out_open(&o, dir, buf);
		group_page(o.f, &one);
		out_close(&o);
		names[n++] = buf;
		buf = NULL;
		map_free(&one);
	}
	out_open(&o, dir, "index.html");
	overview_page(o.f, &all);
	out_close(&o);
	if (rc == EXIT_SUCCESS)
		prune(dir, all.by, names, n);
	while (n > 0)
		free(names[--n]);
	free(names);
	map_free(&all);
	return rc;
}

int
ctl_map(int argc, char **argv)
{
	const char	*rule = NULL, *group = NULL, *file = NULL, *dir = NULL;
	struct ctl_conn	*c;
	struct map	 m;
	struct out	 o;
	int		 i, rc = EXIT_SUCCESS;

	for (i = 1; i < argc; i++) {
		const char	*v;

		if ((v = ctl_opt_value(argc, argv, &i, "--rule")) != NULL)
			rule = v;
		else if ((v = ctl_opt_value(argc, argv, &i,
		    "--community")) != NULL ||
		    (v = ctl_opt_value(argc, argv, &i, "--group")) != NULL)
			group = v;
		else if ((v = ctl_opt_value(argc, argv, &i, "-o")) != NULL)
			file = v;
		else if ((v = ctl_opt_value(argc, argv, &i, "--dir")) != NULL)
			dir = v;
		else
			ctl_usage_error("usage: zhilictl map [--rule RULE] "
			    "[--community C] [-o FILE | --dir DIR]%s", "");
	}
	if (dir != NULL && (group != NULL || file != NULL))
		ctl_usage_error("map: --dir writes every page; it takes no "
		    "--community or -o%s", "");
	c = ctl_conn_open();
	if (dir != NULL)
		rc = map_dir(c, rule, dir);
	else {
		memset(&m, 0, sizeof m);
		if (map_fetch(c, rule, group, &m) == -1)
			rc = EXIT_DAEMON;
		else {
			out_open(&o, NULL, file);
			if (group != NULL)
				group_page(o.f, &m);
			else
				overview_page(o.f, &m);
			out_close(&o);
		}
		map_free(&m);
	}
	ctl_conn_close(c);
	return rc;
}
