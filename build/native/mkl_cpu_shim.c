/* libtorch links Intel MKL statically. MKL asks this function whether the CPU is an Intel one and, on
 * other vendors' CPUs, dispatches to slow generic kernels even where AVX-512 is present. Loaded with
 * RTLD_GLOBAL before libtorch, this definition is found first, so MKL uses the kernels the CPU supports.
 * Results are unchanged (measured bit-identical losses); only the code path differs. */
int mkl_serv_intel_cpu_true(void) { return 1; }
