/* SPDX-License-Identifier: MIT */
/*
 * Runs every unit-test suite. Honours Check's environment (CK_FORK=no for
 * valgrind/gdb, CK_RUN_SUITE / CK_RUN_CASE to select, CK_VERBOSITY).
 * Exit status: 0 when every test passed, 1 otherwise.
 */
#include <stdlib.h>

#include "suites.h"

int main(void)
{
	SRunner *sr = srunner_create(boot_parse_suite());
	int failed;

	srunner_add_suite(sr, boot_layout_suite());
	srunner_add_suite(sr, guest_mem_suite());
	srunner_add_suite(sr, x86_suite());
	srunner_add_suite(sr, mptable_suite());
	srunner_add_suite(sr, iobus_suite());
	srunner_add_suite(sr, uart8250_suite());
	srunner_add_suite(sr, parse_suite());
	srunner_add_suite(sr, virtio_blk_suite());
	srunner_add_suite(sr, virtio_console_suite());
	srunner_add_suite(sr, proto_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
