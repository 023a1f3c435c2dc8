// The one file core/ lets include <cstdio> and <cstdlib>, and only those: <thread> is caught.
#include <cstdio>
#include <cstdlib>
#include <thread>
