/*
 * Throwaway databases for tests. TRACKD_TEST_DATABASE_URL (set by scripts/test.sh) points at a
 * cluster the tests may create databases in; `testdb_setup` (a ctest fixture) builds the
 * migrated template once, and each test clones it, so Criterion's parallel test processes
 * never share a database.
 */
#ifndef TRACKD_TESTS_TESTDB_H
#define TRACKD_TESTS_TESTDB_H

/* The name of the migrated template database. */
#define TESTDB_TEMPLATE "trackd_template"

/* A conninfo string for database `dbname` on the test cluster; the caller frees it. Aborts the
 * test process if TRACKD_TEST_DATABASE_URL is unset or unparsable. */
char *testdb_url_for(const char *dbname);

/* Creates a fresh database cloned from the template; returns its conninfo (caller frees). */
char *testdb_create(void);

/* Drops the database created by testdb_create and frees `url`; accepts NULL. */
void testdb_drop(char *url);

/* Runs one SQL statement and returns the first column of the first row as a new string
 * (NULL for no row or SQL NULL). Aborts on an SQL error. */
char *testdb_query_value(const char *url, const char *sql);

/* Runs a statement and returns the number of rows it returned or affected. Aborts on error. */
long testdb_exec(const char *url, const char *sql);

#endif
