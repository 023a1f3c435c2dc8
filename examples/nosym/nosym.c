/* nosym: a test fixture, not an example. A valid shared object that exports no zygote_app_init,
 * so the loader must refuse it with a clear message. */
__attribute__((visibility("default"))) int not_a_zygote_app(void) { return 42; }
