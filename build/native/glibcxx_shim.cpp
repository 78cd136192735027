// Defines the one libstdc++ 13 entry point that TorchSharp's libLibTorchSharp.so references and an older
// libstdc++ (Debian 12 ships GCC 12's) lacks. In libstdc++ 13 it exists so that a library using <iostream>
// makes the standard streams ready; constructing a static std::ios_base::Init does exactly that here.
#include <ios>

namespace std {
void ios_base_library_init() { static ios_base::Init streams_ready; }
}

namespace {
// Run it once at load time as well, so std::cout is usable before anything references the symbol.
struct InitAtLoad { InitAtLoad() { std::ios_base_library_init(); } } init_at_load;
}
