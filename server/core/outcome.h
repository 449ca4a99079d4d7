/*
 * What one command did once its transaction committed: the vocabulary shared by the store
 * (which reads it from PostgreSQL), ingest/ and the HTTP answers.
 */
#ifndef TRACKD_CORE_OUTCOME_H
#define TRACKD_CORE_OUTCOME_H

/*
 * The numbers from OUTCOME_STORED to OUTCOME_NOT_FOUND are the ones the write statements return
 * (sql/functions/trackd_outcome.sql turns the SQL functions' words into them); db_differential
 * checks that the two agree. The others are set in C only.
 */
enum outcome {
    OUTCOME_PENDING = 0,      /* not written: its transaction failed or never ran */
    OUTCOME_STORED = 1,       /* stored, created, updated or recorded */
    OUTCOME_LINK_REFUSED = 2, /* stored, but its anonymous id belongs to another person and
                               * was not linked (answered 200, logged) */
    OUTCOME_DUPLICATE = 3,    /* its message id was seen before, or a metric repeated */
    OUTCOME_CONFLICT = 4,     /* identify refused: an identifier belongs to another person */
    OUTCOME_IGNORED = 5,      /* dropped as Customer.io does, answered 200: a suppressed
                               * identifier, an unknown cio_id, `_update` for nobody, a
                               * delete of nobody */
    OUTCOME_NOT_FOUND = 6,    /* merge: the primary person does not exist (answered 404) */
    OUTCOME_REFUSED = 7,      /* PostgreSQL refused its values (set by ingest/): not stored */
};

#endif
