/*
 * test_chain_table_generator.c - `chainfs admin gen-chain-table`: requests that must
 * be refused, plans that must be complete and correct (every target exactly once,
 * the replicas of a chain on distinct nodes), the placement quality the issue asks
 * for (heads balanced, every node sharing chains with every other), and the CSV
 * files byte for byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chainfs/error.h"
#include "mgmtd/chain_table_generator.h"

#define NODES_MAX_IN_TESTS 64

/* Storage node ids 11, 12, ... as in a local cluster. */
static const uint32_t *node_ids(void)
{
    static uint32_t ids[NODES_MAX_IN_TESTS];
    for (uint32_t i = 0; i < NODES_MAX_IN_TESTS; i++)
        ids[i] = 11 + i;
    return ids;
}

static struct chain_table_request layout(uint32_t nodes, uint32_t disks, uint32_t targets,
                                         uint32_t replicas)
{
    return (struct chain_table_request){.node_ids = node_ids(), .node_count = nodes,
                                        .disks_per_node = disks, .targets_per_disk = targets,
                                        .replicas = replicas};
}

/* Whatever chain_table_write_* writes, as a string the caller frees. */
static char *written(int (*write)(const struct chain_table_plan *, FILE *),
                     const struct chain_table_plan *plan)
{
    char *text = NULL;
    size_t length = 0;
    FILE *out = open_memstream(&text, &length);
    assert_non_null(out);
    assert_int_equal(write(plan, out), CHAINFS_OK);
    assert_int_equal(fclose(out), 0);
    return text;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t left = *(const uint64_t *)a, right = *(const uint64_t *)b;
    return (left > right) - (left < right);
}

/* ---------------------------------------------------------------- requests */

static void invalid_requests_are_rejected(void **state)
{
    (void)state;
    static const uint32_t zero_id[] = {11, 0, 13};
    static const uint32_t twice[] = {11, 12, 11};
    struct chain_table_request no_ids = layout(3, 1, 3, 3);
    no_ids.node_ids = NULL;
    struct chain_table_request with_zero = layout(3, 1, 3, 3);
    with_zero.node_ids = zero_id;
    struct chain_table_request duplicate = layout(3, 1, 3, 3);
    duplicate.node_ids = twice;
    struct chain_table_request ids_overflow = layout(2, 1, 1, 1);
    ids_overflow.first_chain_id = UINT32_MAX; /* chains UINT32_MAX and UINT32_MAX + 1 */
    const struct chain_table_request requests[] = {
        no_ids,
        with_zero,
        duplicate,
        ids_overflow,
        layout(0, 1, 1, 1),                         /* no nodes */
        layout(CHAIN_TABLE_NODES_MAX + 1, 1, 1, 1), /* more nodes than supported */
        layout(3, 0, 3, 3),                         /* no disks */
        layout(3, CHAIN_TABLE_DISKS_MAX + 1, 3, 3), /* disk index past 999 */
        layout(3, 1, 0, 3),                         /* no targets */
        layout(3, 1, CHAIN_TABLE_TARGETS_PER_DISK_MAX + 1, 3), /* would reach the next disk */
        layout(3, 1, 3, 0),                         /* no replicas */
        layout(17, 1, 17, 17),                      /* longer than CHAIN_TARGETS_MAX */
        layout(3, 1, 4, 4),                         /* more replicas than nodes */
        layout(4, 1, 1, 3),                         /* 4 targets do not make chains of 3 */
        layout(2, 1000, 999, 2),                    /* more chains than a table holds */
    };
    for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
        struct chain_table_plan plan = {.chain_count = 99};
        assert_int_equal(chain_table_request_validate(&requests[i]), CHAINFS_INVALID_ARGUMENT);
        assert_int_equal(chain_table_generate(&requests[i], &plan), CHAINFS_INVALID_ARGUMENT);
        assert_int_equal(plan.chain_count, 0);
        assert_null(plan.target_ids);
        chain_table_plan_free(&plan);
    }
}

static void limits_themselves_are_accepted(void **state)
{
    (void)state;
    const struct chain_table_request requests[] = {
        layout(1, 1, 1, 1),
        layout(1, CHAIN_TABLE_DISKS_MAX, 1, 1),
        layout(1, 1, CHAIN_TABLE_TARGETS_PER_DISK_MAX, 1),
        layout(16, 1, 1, 16),
        layout(NODES_MAX_IN_TESTS, 1, 1, 2),
    };
    for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
        struct chain_table_plan plan;
        assert_int_equal(chain_table_generate(&requests[i], &plan), CHAINFS_OK);
        chain_table_plan_free(&plan);
    }
}

static void target_ids_follow_the_3fs_convention(void **state)
{
    (void)state;
    assert_int_equal(chain_table_target_id(11, 0, 0), 11000001);
    assert_int_equal(chain_table_target_id(11, 2, 0), 11002001);
    assert_int_equal(chain_table_target_id(11, 999, 998), 11999999);
    assert_int_equal(chain_table_target_id(UINT32_MAX, 0, 0), (uint64_t)UINT32_MAX * 1000000 + 1);
    assert_int_equal(chain_table_target_node(11999999), 11);
    assert_int_equal(chain_table_target_node(12000001), 12);
}

/* ------------------------------------------------------------------- plans */

/* Every target of the layout in exactly one chain, each chain on distinct nodes,
 * chain ids from first_chain_id on. */
static void check_plan(const struct chain_table_request *request,
                       const struct chain_table_plan *plan)
{
    uint32_t replicas = request->replicas;
    size_t targets = (size_t)request->node_count * request->disks_per_node *
                     request->targets_per_disk;
    assert_int_equal(plan->chain_count * replicas, targets);
    assert_int_equal(plan->replicas, replicas);
    assert_int_equal(plan->first_chain_id, request->first_chain_id ? request->first_chain_id : 1);
    for (uint32_t chain = 0; chain < plan->chain_count; chain++)
        for (uint32_t i = 0; i < replicas; i++)
            for (uint32_t j = 0; j < i; j++)
                assert_int_not_equal(
                    chain_table_target_node(plan->target_ids[(size_t)chain * replicas + i]),
                    chain_table_target_node(plan->target_ids[(size_t)chain * replicas + j]));

    uint64_t *expected = malloc(targets * sizeof(uint64_t));
    uint64_t *used = malloc(targets * sizeof(uint64_t));
    assert_non_null(expected);
    assert_non_null(used);
    size_t count = 0;
    for (uint32_t node = 0; node < request->node_count; node++)
        for (uint32_t disk = 0; disk < request->disks_per_node; disk++)
            for (uint32_t target = 0; target < request->targets_per_disk; target++)
                expected[count++] = chain_table_target_id(request->node_ids[node], disk, target);
    memcpy(used, plan->target_ids, targets * sizeof(uint64_t));
    qsort(expected, targets, sizeof(uint64_t), compare_u64);
    qsort(used, targets, sizeof(uint64_t), compare_u64);
    assert_memory_equal(used, expected, targets * sizeof(uint64_t));
    free(expected);
    free(used);
}

/* Heads per node differ by at most one; every node is in disks x targets chains. */
static void check_balance(const struct chain_table_request *request,
                          const struct chain_table_plan *plan,
                          struct chain_table_node_stats stats[NODES_MAX_IN_TESTS])
{
    assert_int_equal(chain_table_plan_node_stats(plan, stats), CHAINFS_OK);
    uint32_t fewest = UINT32_MAX, most = 0;
    for (uint32_t node = 0; node < request->node_count; node++) {
        assert_int_equal(stats[node].node_id, request->node_ids[node]);
        assert_int_equal(stats[node].chains,
                         request->disks_per_node * request->targets_per_disk);
        if (stats[node].heads < fewest)
            fewest = stats[node].heads;
        if (stats[node].heads > most)
            most = stats[node].heads;
    }
    assert_in_range(most - fewest, 0, 1);
}

static void named_layouts_are_complete_balanced_and_spread(void **state)
{
    (void)state;
    struct layout_case {
        uint32_t nodes, disks, targets, replicas;
        uint32_t most_shared; /* the even share, rounded up */
    } cases[] = {
        {3, 1, 6, 3, 6},  /* every chain on all three nodes */
        {5, 2, 6, 3, 6},  /* 12 chains x 2 peers / 4 peers */
        {8, 1, 12, 3, 4}, /* 24 / 7 = 3.4 */
        {4, 1, 6, 2, 2},  /* 6 / 3 */
        {4, 2, 6, 2, 4},  /* 12 / 3 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct layout_case *c = &cases[i];
        struct chain_table_request request = layout(c->nodes, c->disks, c->targets, c->replicas);
        struct chain_table_plan plan;
        struct chain_table_node_stats stats[NODES_MAX_IN_TESTS];
        assert_int_equal(chain_table_generate(&request, &plan), CHAINFS_OK);
        check_plan(&request, &plan);
        check_balance(&request, &plan, stats);
        for (uint32_t node = 0; node < c->nodes; node++) {
            assert_int_equal(stats[node].peers, c->nodes - 1);
            assert_in_range(stats[node].max_shared, 1, c->most_shared);
            assert_in_range(stats[node].min_shared, c->most_shared - 1, c->most_shared);
        }
        chain_table_plan_free(&plan);
    }
}

/* Many layouts: always complete and correct, heads always balanced, and every node
 * reaches every peer whenever its chains have room for that many peers. */
static void many_layouts_are_complete_and_balanced(void **state)
{
    (void)state;
    uint32_t checked = 0;
    for (uint32_t nodes = 1; nodes <= 12; nodes++)
        for (uint32_t disks = 1; disks <= 2; disks++)
            for (uint32_t targets = 1; targets <= 12; targets++)
                for (uint32_t replicas = 1; replicas <= 4 && replicas <= nodes; replicas++) {
                    struct chain_table_request request = layout(nodes, disks, targets, replicas);
                    request.first_chain_id = 1000 + nodes;
                    if (chain_table_request_validate(&request) != CHAINFS_OK)
                        continue;
                    struct chain_table_plan plan;
                    struct chain_table_node_stats stats[NODES_MAX_IN_TESTS];
                    assert_int_equal(chain_table_generate(&request, &plan), CHAINFS_OK);
                    check_plan(&request, &plan);
                    check_balance(&request, &plan, stats);
                    /* room for 2 x every peer: the greedy reliably reaches them all */
                    if (disks * targets * (replicas - 1) >= 2 * (nodes - 1))
                        for (uint32_t node = 0; node < nodes; node++)
                            assert_int_equal(stats[node].peers, nodes - 1);
                    chain_table_plan_free(&plan);
                    checked++;
                }
    assert_true(checked > 300);
}

/* ------------------------------------------------------------------- files */

static void csv_files_are_exact(void **state)
{
    (void)state;
    struct chain_table_request request = layout(4, 2, 3, 2);
    request.first_chain_id = 100;
    struct chain_table_plan plan;
    assert_int_equal(chain_table_generate(&request, &plan), CHAINFS_OK);
    char *chains = written(chain_table_plan_write_chains_csv, &plan);
    char *table = written(chain_table_plan_write_table_csv, &plan);
    /* each pair of nodes shares two chains, each node heads three */
    assert_string_equal(chains, "ChainId,TargetId,TargetId\n"
                                "100,11000001,12000001\n"
                                "101,13000001,14000001\n"
                                "102,13001001,11001001\n"
                                "103,14001001,12001001\n"
                                "104,11000002,14000002\n"
                                "105,12000002,13000002\n"
                                "106,14001002,13001002\n"
                                "107,12001002,11001002\n"
                                "108,11000003,13000003\n"
                                "109,12000003,14000003\n"
                                "110,13001003,12001003\n"
                                "111,14001003,11001003\n");
    assert_string_equal(table, "ChainId\n100\n101\n102\n103\n104\n105\n"
                               "106\n107\n108\n109\n110\n111\n");
    free(chains);
    free(table);
    chain_table_plan_free(&plan);

    request = layout(3, 1, 2, 3); /* first chain id 0 means 1 */
    assert_int_equal(chain_table_generate(&request, &plan), CHAINFS_OK);
    chains = written(chain_table_plan_write_chains_csv, &plan);
    table = written(chain_table_plan_write_table_csv, &plan);
    assert_string_equal(chains, "ChainId,TargetId,TargetId,TargetId\n"
                                "1,11000001,12000001,13000001\n"
                                "2,12000002,13000002,11000002\n");
    assert_string_equal(table, "ChainId\n1\n2\n");
    free(chains);
    free(table);
    chain_table_plan_free(&plan);
}

static void same_request_gives_the_same_files(void **state)
{
    (void)state;
    struct chain_table_request request = layout(10, 3, 8, 3);
    struct chain_table_plan first, second;
    assert_int_equal(chain_table_generate(&request, &first), CHAINFS_OK);
    assert_int_equal(chain_table_generate(&request, &second), CHAINFS_OK);
    char *first_chains = written(chain_table_plan_write_chains_csv, &first);
    char *second_chains = written(chain_table_plan_write_chains_csv, &second);
    char *first_table = written(chain_table_plan_write_table_csv, &first);
    char *second_table = written(chain_table_plan_write_table_csv, &second);
    assert_string_equal(first_chains, second_chains);
    assert_string_equal(first_table, second_table);
    free(first_chains);
    free(second_chains);
    free(first_table);
    free(second_table);
    chain_table_plan_free(&first);
    chain_table_plan_free(&second);
}

static void write_errors_and_foreign_targets_are_reported(void **state)
{
    (void)state;
    struct chain_table_request request = layout(3, 1, 3, 3);
    struct chain_table_plan plan;
    assert_int_equal(chain_table_generate(&request, &plan), CHAINFS_OK);
    FILE *read_only = fopen("/dev/null", "r");
    assert_non_null(read_only);
    assert_int_equal(chain_table_plan_write_chains_csv(&plan, read_only), CHAINFS_IO);
    assert_int_equal(chain_table_plan_write_table_csv(&plan, read_only), CHAINFS_IO);
    fclose(read_only);

    struct chain_table_node_stats stats[NODES_MAX_IN_TESTS];
    plan.target_ids[4] = chain_table_target_id(99, 0, 0); /* node 99 is not in the plan */
    assert_int_equal(chain_table_plan_node_stats(&plan, stats), CHAINFS_INVALID_ARGUMENT);
    chain_table_plan_free(&plan);
    chain_table_plan_free(&plan); /* freeing twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(invalid_requests_are_rejected),
        cmocka_unit_test(limits_themselves_are_accepted),
        cmocka_unit_test(target_ids_follow_the_3fs_convention),
        cmocka_unit_test(named_layouts_are_complete_balanced_and_spread),
        cmocka_unit_test(many_layouts_are_complete_and_balanced),
        cmocka_unit_test(csv_files_are_exact),
        cmocka_unit_test(same_request_gives_the_same_files),
        cmocka_unit_test(write_errors_and_foreign_targets_are_reported),
    };
    return cmocka_run_group_tests_name("chain_table_generator", tests, NULL, NULL);
}
