/*
 * commands.h - the subcommands of the `chainfs` binary.
 *
 * Each returns the process exit code; argv[0] is the subcommand's own name.
 */
#ifndef CHAINFS_CLI_COMMANDS_H
#define CHAINFS_CLI_COMMANDS_H

int command_node(int argc, char **argv);
int command_mgmtd(int argc, char **argv);
int command_meta(int argc, char **argv);
int command_meta_tool(int argc, char **argv);
int command_meta_check(int argc, char **argv);
int command_storage(int argc, char **argv);
int command_admin(int argc, char **argv);
int command_ping(int argc, char **argv);
int command_bench(int argc, char **argv);
int command_up(int argc, char **argv);
int command_down(int argc, char **argv);
int command_status(int argc, char **argv);
int command_mount(int argc, char **argv);
int command_storage_tool(int argc, char **argv);

#endif /* CHAINFS_CLI_COMMANDS_H */
