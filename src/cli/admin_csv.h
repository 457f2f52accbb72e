/*
 * admin_csv.h - reading the chain and chain-table CSV files of `chainfs admin`.
 *
 *   chains:      ChainId,TargetId,TargetId,...   (one chain per line)
 *   chain table: ChainId                         (one chain per line)
 *
 * A first line that does not start with a digit is a header and skipped; blank lines
 * are skipped. Errors name the file, line and what is wrong.
 */
#ifndef CHAINFS_CLI_ADMIN_CSV_H
#define CHAINFS_CLI_ADMIN_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "common/wire.h"

/* Encodes the SET_CHAINS message from a chains CSV. Returns 0 or prints the error and
 * returns CHAINFS_INVALID_ARGUMENT. */
int admin_csv_read_chains(const char *path, struct wire_writer *message);

/* Encodes the SET_CHAIN_TABLE message for table_id from a chain-table CSV. */
int admin_csv_read_chain_table(const char *path, uint32_t table_id, struct wire_writer *message);

#endif /* CHAINFS_CLI_ADMIN_CSV_H */
