/* ctest fixture: (re)creates the migrated template database the test suites clone. */
#include <stdio.h>
#include <stdlib.h>

#include "store/store.h"
#include "testdb.h"

int main(void)
{
    char *admin = testdb_url_for("postgres");
    testdb_exec(admin, "DROP DATABASE IF EXISTS " TESTDB_TEMPLATE " WITH (FORCE)");
    testdb_exec(admin, "CREATE DATABASE " TESTDB_TEMPLATE);
    free(admin);
    char *url = testdb_url_for(TESTDB_TEMPLATE);
    char error[512];
    int applied = store_migrate(url, stdout, error, sizeof error);
    free(url);
    if (applied < 0) {
        fprintf(stderr, "testdb_setup: %s\n", error);
        return 1;
    }
    return 0;
}
