/*
 * The protocol's ALERT object, written in one place: the engine writes it
 * when a rule raises an alert (for the event's answer and subscribers) and
 * the store writes it again from the alerts table, which keeps the parts
 * rather than the text.  Both must give the same bytes.  A new alert is
 * never acknowledged; silenced is the id of the silence that matched it
 * when it was raised (silence.c), 0 if none.
 */
#include <string.h>

#include "zhilid.h"

#define ALERT_TAIL	",\"acked\":null,\"silenced\":null}"

void
alert_json(struct buf *b, int64_t id, const char *rule, const char *severity,
    const char *kind, const char *entity, const char *period, int64_t ts,
    const char *message, size_t msglen, const char *data, const char *event,
    const struct alert_ack *ack, int64_t silenced)
{
	char t[40];

	clock_format(ts, t, sizeof t);
	buf_adds(b, "{\"id\":");
	if (id > 0)
		buf_add_int(b, id);
	else
		buf_adds(b, "null");	/* a dry run's: none was given */
	buf_adds(b, ",\"rule\":");
	buf_add_json_cstr(b, rule);
	buf_adds(b, ",\"severity\":\"");
	buf_adds(b, severity);
	buf_adds(b, "\",\"kind\":");
	buf_add_json_cstr(b, kind);
	buf_adds(b, ",\"entity\":");
	buf_add_json_cstr(b, entity);
	buf_adds(b, ",\"period\":");
	buf_add_json_cstr(b, period);
	buf_adds(b, ",\"ts\":\"");
	buf_adds(b, t);
	buf_adds(b, "\",\"message\":");
	buf_add_json_str(b, message, msglen);
	buf_adds(b, ",\"data\":");
	buf_adds(b, data);
	buf_adds(b, ",\"event\":");
	buf_add_json_cstr(b, event);
	if (ack == NULL && silenced <= 0) {
		/* every new alert but silenced ones: one copy, no strlen */
		buf_add(b, ALERT_TAIL, sizeof ALERT_TAIL - 1);
		return;
	}
	buf_adds(b, ",\"acked\":");
	if (ack == NULL)
		buf_adds(b, "null");
	else {
		buf_adds(b, "{\"by\":");
		if (ack->by >= 0)
			buf_add_int(b, ack->by);
		else
			buf_adds(b, "null");
		buf_adds(b, ",\"ts\":");
		if (ack->ts >= 0) {
			clock_format(ack->ts, t, sizeof t);
			buf_add_json_cstr(b, t);
		} else
			buf_adds(b, "null");
		buf_addc(b, '}');
	}
	buf_adds(b, ",\"silenced\":");
	if (silenced > 0)
		buf_add_int(b, silenced);
	else
		buf_adds(b, "null");
	buf_addc(b, '}');
}
