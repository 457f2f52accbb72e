/*
 * bench_report.c - printing benchmark figures with their limits and ratios.
 */
#include <stdio.h>

#include "common/bench_report.h"

void bench_report_figure(const struct bench_figure *figure, bool json)
{
    bool has_limit = figure->limit != NULL && figure->limit_value > 0;
    double ratio = has_limit ? figure->value / figure->limit_value : 0;
    if (json) {
        printf("{\"bench\":\"%s\",\"figure\":\"%s\",\"value\":%.6g,\"unit\":\"%s\",",
               figure->bench, figure->figure, figure->value, figure->unit);
        if (has_limit)
            printf("\"limit\":\"%s\",\"limit_value\":%.6g,\"ratio\":%.4f}\n", figure->limit,
                   figure->limit_value, ratio);
        else
            printf("\"limit\":null,\"limit_value\":null,\"ratio\":null}\n");
    } else if (has_limit) {
        printf("%-8s %-34s %12.1f %-6s | %-28s %12.1f %-6s | ratio %.3f\n", figure->bench,
               figure->figure, figure->value, figure->unit, figure->limit,
               figure->limit_value, figure->unit, ratio);
    } else {
        printf("%-8s %-34s %12.1f %-6s\n", figure->bench, figure->figure, figure->value,
               figure->unit);
    }
    fflush(stdout);
}
