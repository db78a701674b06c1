// SPDX-License-Identifier: MIT
/*
 * `umm bench --quick --json`: its output parses as JSON (a small strict
 * parser here, so no python is needed), has the shape the README promises,
 * and every figure of every scenario is a positive number (counts are
 * numbers >= 0). The umm binary is $UMM (set by make check).
 */
#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/tap.h"

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jtype type;
	double num;
	char *str; /* J_STR */
	unsigned int n; /* J_ARR, J_OBJ */
	struct jv **items;
	char **keys; /* J_OBJ */
};

struct parser {
	const char *s;
	const char *err;
};

static void skip_ws(struct parser *p)
{
	while (isspace((unsigned char)*p->s))
		p->s++;
}

static struct jv *jv_new(enum jtype t)
{
	struct jv *v = calloc(1, sizeof(*v));

	if (!v)
		BAIL_OUT("out of memory");
	v->type = t;
	return v;
}

static struct jv *parse_value(struct parser *p);

static char *parse_string(struct parser *p)
{
	size_t cap = 16, len = 0;
	char *out = malloc(cap);

	if (!out)
		BAIL_OUT("out of memory");
	p->s++; /* the quote */
	while (*p->s && *p->s != '"') {
		char c = *p->s++;

		if ((unsigned char)c < 0x20) {
			p->err = "control character in a string";
			break;
		}
		if (c == '\\') {
			c = *p->s++;
			if (c == 'u') {
				unsigned int i;

				for (i = 0; i < 4; i++)
					if (!isxdigit((unsigned char)p->s[i]))
						p->err = "bad \\u escape";
				if (p->err)
					break;
				p->s += 4;
				c = '?';
			} else if (!strchr("\"\\/bfnrt", c) || !c) {
				p->err = "bad escape";
				break;
			}
		}
		if (len + 2 > cap)
			out = realloc(out, cap *= 2);
		if (!out)
			BAIL_OUT("out of memory");
		out[len++] = c;
	}
	out[len] = 0;
	if (!p->err && *p->s != '"')
		p->err = "unterminated string";
	if (!p->err)
		p->s++;
	return out;
}

static void add_item(struct jv *v, struct jv *item, char *key)
{
	v->items = realloc(v->items, (v->n + 1) * sizeof(*v->items));
	v->keys = realloc(v->keys, (v->n + 1) * sizeof(*v->keys));
	if (!v->items || !v->keys)
		BAIL_OUT("out of memory");
	v->items[v->n] = item;
	v->keys[v->n++] = key;
}

static struct jv *parse_container(struct parser *p, bool obj)
{
	struct jv *v = jv_new(obj ? J_OBJ : J_ARR);
	char close = obj ? '}' : ']';

	p->s++;
	skip_ws(p);
	if (*p->s == close) {
		p->s++;
		return v;
	}
	while (!p->err) {
		char *key = NULL;

		skip_ws(p);
		if (obj) {
			if (*p->s != '"') {
				p->err = "object key expected";
				break;
			}
			key = parse_string(p);
			skip_ws(p);
			if (*p->s != ':') {
				p->err = "':' expected";
				free(key);
				break;
			}
			p->s++;
		}
		add_item(v, parse_value(p), key);
		skip_ws(p);
		if (*p->s == ',') {
			p->s++;
			continue;
		}
		if (*p->s == close) {
			p->s++;
			break;
		}
		p->err = obj ? "',' or '}' expected" : "',' or ']' expected";
	}
	return v;
}

static struct jv *parse_value(struct parser *p)
{
	struct jv *v;
	char *end;

	skip_ws(p);
	if (p->err)
		return jv_new(J_NULL);
	switch (*p->s) {
	case '{':
		return parse_container(p, true);
	case '[':
		return parse_container(p, false);
	case '"':
		v = jv_new(J_STR);
		v->str = parse_string(p);
		return v;
	}
	if (!strncmp(p->s, "true", 4) || !strncmp(p->s, "false", 5)) {
		v = jv_new(J_BOOL);
		v->num = *p->s == 't';
		p->s += *p->s == 't' ? 4 : 5;
		return v;
	}
	if (!strncmp(p->s, "null", 4)) {
		p->s += 4;
		return jv_new(J_NULL);
	}
	v = jv_new(J_NUM);
	if (*p->s != '-' && !isdigit((unsigned char)*p->s)) {
		p->err = "value expected";
		return v;
	}
	errno = 0;
	v->num = strtod(p->s, &end);
	if (end == p->s || errno)
		p->err = "bad number";
	p->s = end;
	return v;
}

static void jv_free(struct jv *v)
{
	unsigned int i;

	for (i = 0; i < v->n; i++) {
		jv_free(v->items[i]);
		free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->str);
	free(v);
}

static struct jv *get(const struct jv *o, const char *key)
{
	unsigned int i;

	if (!o || o->type != J_OBJ)
		return NULL;
	for (i = 0; i < o->n; i++)
		if (!strcmp(o->keys[i], key))
			return o->items[i];
	return NULL;
}

static bool is_type(const struct jv *o, const char *key, enum jtype t)
{
	const struct jv *v = get(o, key);

	return v && v->type == t;
}

/* Every member of @o a number >= @min (> 0 when positive). */
static bool all_numbers(const struct jv *o, bool positive, const char *what,
			const char *name)
{
	unsigned int i;
	bool good = o && o->type == J_OBJ && o->n > 0;

	for (i = 0; good && i < o->n; i++) {
		const struct jv *v = o->items[i];

		if (v->type != J_NUM || !isfinite(v->num) ||
		    (positive ? v->num <= 0 : v->num < 0)) {
			diag("%s: %s.%s is %s%g", name, what, o->keys[i],
			     v->type == J_NUM ? "" : "not a number: ",
			     v->type == J_NUM ? v->num : 0.0);
			good = false;
		}
	}
	return good;
}

static char *run_bench(int *status)
{
	const char *umm = getenv("UMM");
	size_t cap = 1 << 16, len = 0, n;
	char cmd[4096], *out = malloc(cap);
	FILE *f;

	if (!out)
		BAIL_OUT("out of memory");
	snprintf(cmd, sizeof(cmd), "'%s' bench --quick --json",
		 umm ? umm : "./umm");
	f = popen(cmd, "r");
	if (!f)
		BAIL_OUT("cannot run %s", cmd);
	while ((n = fread(out + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (len + 1 == cap && !(out = realloc(out, cap *= 2)))
			BAIL_OUT("out of memory");
	}
	out[len] = 0;
	*status = pclose(f);
	return out;
}

static void check_scenario(const struct jv *s, unsigned int i)
{
	const struct jv *name = get(s, "name"), *native = get(s, "native");
	const char *n = name && name->type == J_STR ? name->str : "?";
	bool has_native = native && native->type == J_STR && *native->str;
	const struct jv *fig = get(s, "figures");

	ok(name && name->type == J_STR && *n, "scenario %u has a name (%s)", i,
	   n);
	ok(!get(s, "error"), "%s: ran without error", n);
	ok(is_type(s, "configuration", J_OBJ) && is_type(s, "unit", J_STR) &&
		   is_type(s, "what", J_STR),
	   "%s: configuration, unit, what", n);
	ok(is_type(fig, "ops_per_s", J_NUM) &&
		   is_type(fig, "ns_per_op", J_NUM) &&
		   is_type(fig, "ops_per_s_min", J_NUM) &&
		   is_type(fig, "ops_per_s_max", J_NUM) &&
		   is_type(fig, "peak_rss_kb", J_NUM) &&
		   (!has_native || (is_type(fig, "ratio", J_NUM) &&
				    is_type(fig, "native_ns_per_op", J_NUM))),
	   "%s: ops/s with spread, ns/op, peak RSS%s", n,
	   has_native ? ", native ns/op and ratio" : "");
	ok(all_numbers(fig, true, "figures", n),
	   "%s: every figure a positive number", n);
	ok(is_type(get(s, "counts"), "host_syscalls_per_op", J_NUM) &&
		   is_type(get(s, "counts"), "host_vmas_peak", J_NUM) &&
		   all_numbers(get(s, "counts"), false, "counts", n) &&
		   all_numbers(get(s, "faults"), false, "faults", n),
	   "%s: counts and faults by kind, numbers >= 0", n);
}

/* The checker itself: bad JSON and bad figures are caught. */
static void self_test(void)
{
	static const char *const bad[] = {
		"{\"a\": 1,}", "[1 2]",	       "{\"a\" 1}",
		"\"open",      "{\"a\": nan}", "[\"\\x\"]",
	};
	static const char *const figures[] = {
		"{\"x\": 1, \"y\": 0}",
		"{\"x\": -2}",
		"{\"x\": \"1\"}",
		"{}",
	};
	unsigned int i;
	bool all = true;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct parser p = {.s = bad[i]};
		struct jv *v = parse_value(&p);

		all &= p.err != NULL;
		jv_free(v);
	}
	ok(all, "the parser refuses malformed JSON");
	for (all = true, i = 0; i < sizeof(figures) / sizeof(figures[0]); i++) {
		struct parser p = {.s = figures[i]};
		struct jv *v = parse_value(&p);

		all &= !p.err && !all_numbers(v, true, "self-test", "figures");
		jv_free(v);
	}
	ok(all, "zero, negative, non-number and empty figures are caught");
}

/* The scenario called @name in @sc, or NULL. */
static const struct jv *scenario(const struct jv *sc, const char *name)
{
	unsigned int i;

	for (i = 0; sc && sc->type == J_ARR && i < sc->n; i++)
		if (is_type(sc->items[i], "name", J_STR) &&
		    !strcmp(get(sc->items[i], "name")->str, name))
			return sc->items[i];
	return NULL;
}

/*
 * `umm run`'s fork and exec touch ahead for the guest what it touches
 * first (the stack top and the code a fork returns to, an exec's entry):
 * the guest program of run_fork and run_forkexec takes no fault of its
 * own, though the faults by kind show the pages faulted in for it.
 */
static void check_touch_ahead(const struct jv *sc, const char *name)
{
	const struct jv *f = get(scenario(sc, name), "faults");
	const struct jv *taken = get(f, "taken"), *cow = get(f, "cow");

	ok(taken && taken->type == J_NUM && taken->num == 0 && cow &&
		   cow->type == J_NUM && cow->num > 0,
	   "%s: the guest took %g faults, %g copies were made for it", name,
	   taken && taken->type == J_NUM ? taken->num : -1,
	   cow && cow->type == J_NUM ? cow->num : -1);
}

int main(void)
{
	struct parser p = {0};
	const struct jv *env, *sc, *goals;
	struct jv *root;
	unsigned int i;
	int status;
	char *out;

	self_test();
	out = run_bench(&status);

	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "umm bench --quick --json exits 0 (status %#x)", status);
	p.s = out;
	root = parse_value(&p);
	skip_ws(&p);
	if (!p.err && *p.s)
		p.err = "trailing text";
	ok(!p.err, "the output is JSON (%s at byte %ld)",
	   p.err ? p.err : "no error", (long)(p.s - out));
	if (p.err)
		BAIL_OUT("cannot go on without JSON");
	ok(root->type == J_OBJ, "an object at the top");
	env = get(root, "environment");
	ok(is_type(env, "kernel", J_STR) && is_type(env, "cpu_model", J_STR) &&
		   is_type(env, "umm_version", J_STR) &&
		   is_type(env, "build", J_STR),
	   "environment: kernel, CPU model, umm version, build");
	ok(is_type(env, "nproc", J_NUM) && get(env, "nproc")->num >= 1 &&
		   is_type(env, "vm_max_map_count", J_NUM) &&
		   get(env, "vm_max_map_count")->num > 0,
	   "environment: nproc, vm.max_map_count");
	sc = get(root, "scenarios");
	ok(sc && sc->type == J_ARR && sc->n >= 10,
	   "scenarios: an array of at least 10 (%u)", sc ? sc->n : 0);
	for (i = 0; sc && sc->type == J_ARR && i < sc->n; i++)
		check_scenario(sc->items[i], i);
	check_touch_ahead(sc, "run_fork");
	check_touch_ahead(sc, "run_forkexec");
	goals = get(root, "goals");
	ok(goals && goals->type == J_ARR && goals->n == 5,
	   "goals: an array of 5");
	for (i = 0; goals && goals->type == J_ARR && i < goals->n; i++) {
		const struct jv *g = goals->items[i], *met = get(g, "met");

		ok(is_type(g, "name", J_STR) && is_type(g, "target", J_STR) &&
			   met && (met->type == J_BOOL || met->type == J_NULL),
		   "goal %u: name, target, met true/false/null", i);
		const char *name =
			is_type(g, "name", J_STR) ? get(g, "name")->str : "?";

		/* ratios need the native runs, which a host may refuse */
		if (strcmp(name, "page_fault1_ratio") &&
		    strcmp(name, "nonlinear_rate"))
			ok(met && met->type == J_BOOL,
			   "goal %u (%s) was measured in the quick run", i,
			   name);
	}
	jv_free(root);
	free(out);
	return done_testing();
}
