// Sums the coverage marks the property suites' processes reported, prints them, and fails if a
// catalogued mark was never hit: a fault point or policy branch the default run never reached.
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>

#include "core/marks.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: props_marks_check DIR\n";
    return 2;
  }
  std::map<std::string, std::uint64_t> total;
  for (const std::string& name : zyg::marks::catalogue()) total[name] = 0;
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(argv[1])) {
    if (entry.path().extension() != ".marks") continue;
    ++files;
    std::ifstream in(entry.path());
    std::string name;
    std::uint64_t n = 0;
    while (in >> name >> n) total[name] += n;
  }
  // A mark listed as not reached yet that a suite now reaches must move to the catalogue.
  int reached = 0;
  for (const std::string& name : zyg::marks::not_yet_reached()) {
    if (total[name] != 0) {
      std::cout << std::left << std::setw(28) << name << std::right << std::setw(12) << total[name]
                << "   REACHED: move it from not_yet_reached() to the catalogue\n";
      ++reached;
    }
    total.erase(name);
  }
  int missed = reached;
  for (const auto& [name, n] : total) {
    std::cout << std::left << std::setw(28) << name << std::right << std::setw(12) << n
              << (n == 0 ? "   NEVER HIT" : "") << "\n";
    missed += n == 0 ? 1 : 0;
  }
  std::cout << total.size() << " marks from " << files << " processes; " << missed
            << " never hit\n";
  return files > 0 && missed == 0 ? 0 : 1;
}
