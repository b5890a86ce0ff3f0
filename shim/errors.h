/*
 * errors.h: a PostgreSQL error -> the problem a client is shown.  Pure: no
 * h2o or libpq here, so the fuzz harness links it alone.
 */
#ifndef SHIM_ERRORS_H
#define SHIM_ERRORS_H

/*
 * The extension marks the errors it writes for clients with this SCHEMA
 * NAME and no table or type (RAISE ... USING SCHEMA, tm_errclient() in C).
 */
#define CLIENT_ERROR_SCHEMA "taskmgmt"

/* The fields of an error the mapping reads (libpq's PG_DIAG_*; NULL = absent). */
typedef struct pg_error
{
	const char *sqlstate;
	const char *message;		/* MESSAGE_PRIMARY */
	const char *detail;			/* MESSAGE_DETAIL */
	const char *column;			/* COLUMN_NAME: the field a 400/422 is about */
	const char *schema;			/* SCHEMA_NAME */
	const char *table;			/* TABLE_NAME */
	const char *datatype;		/* DATATYPE_NAME */
	const char *position;		/* INTERNAL_POSITION: where in a text the client
								 * sent (the filter language) it went wrong */
} pg_error;

typedef struct problem
{
	int			status;
	const char *code;
	const char *detail;			/* the error's message, or a fixed text */
	const char *field;			/* errors[0].field, or NULL */
	int			position;		/* errors[0].position (characters, from 1), or 0 */
	const char *expected;		/* errors[0].expected: expected_len bytes of */
	int			expected_len;	/* the error's DETAIL, or NULL */
	int			retry_after;	/* seconds; 0: no Retry-After */
	int			log;			/* a server-side problem: log the error */
} problem;

const char *status_title(int status);
int			error_for_client(const pg_error *e);
problem		problem_of(const pg_error *e);

#endif
