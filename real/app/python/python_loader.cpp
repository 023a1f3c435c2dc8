// Loads a WSGI app in a zygote: CPython initialized once, isolated from the environment, in the
// release's virtualenv when it has one, then the app imported and built by _zygote.load
// (bootstrap.py). The zygote dlopens this module (RTLD_GLOBAL: Debian's extension modules expect
// libpython's symbols global) and calls zygote_python_loader().
#include "real/app/python/python_app.hpp"  // Python.h first, as its documentation asks

#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace zyg::python {

extern const char kBootstrapSource[];  // bootstrap.py, compiled in (bootstrap.cpp.in)

namespace {

bool is_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string real(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) != nullptr ? std::string(buf) : path;
}

std::string dirname(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// The release's virtualenv: venv/ or .venv/ with a pyvenv.cfg.
std::optional<std::string> find_venv(const std::string& release) {
  for (const char* name : {"venv", ".venv"}) {
    const std::string dir = release + "/" + name;
    if (is_file(dir + "/pyvenv.cfg")) return dir;
  }
  return std::nullopt;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// A venv made by another Python would load that Python's standard library into this one: refuse
// it, with what was found, before the interpreter starts.
std::string check_venv(const std::string& venv) {
  std::ifstream cfg(venv + "/pyvenv.cfg");
  std::string line;
  std::string home;
  std::string version;
  while (std::getline(cfg, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = trim(line.substr(0, eq));
    const std::string value = trim(line.substr(eq + 1));
    if (key == "home") home = value;
    if (key == "version" || key == "version_info") version = value;
  }
  const std::string ours =
      std::to_string(PY_MAJOR_VERSION) + "." + std::to_string(PY_MINOR_VERSION);
  const std::string our_home = dirname(ZYGOTE_PYTHON_EXECUTABLE);
  if (version != ours && version.rfind(ours + ".", 0) != 0) {
    return "its virtualenv " + venv + " was made by Python " +
           (version.empty() ? std::string("of an unknown version") : version) +
           ", but this server embeds Python " + PY_VERSION +
           " (" ZYGOTE_PYTHON_EXECUTABLE "); recreate it with " ZYGOTE_PYTHON_EXECUTABLE " -m venv";
  }
  if (home.empty() || real(home) != real(our_home)) {
    return "its virtualenv " + venv + " was made by the Python in " +
           (home.empty() ? std::string("an unknown place") : home) +
           ", but this server embeds the one in " + our_home + "; recreate it with " +
           ZYGOTE_PYTHON_EXECUTABLE " -m venv";
  }
  if (!is_file(venv + "/bin/python") && !is_file(venv + "/bin/python3")) {
    return "its virtualenv " + venv + " has no bin/python";
  }
  return "";
}

std::string status_text(const PyStatus& st) {
  std::string s = st.err_msg != nullptr ? st.err_msg : "unknown error";
  if (st.func != nullptr) s = std::string(st.func) + ": " + s;
  return s;
}

// Isolated: no PYTHON* variables, no user site, no current directory on sys.path. UTF-8 whatever
// the locale; unbuffered stdio (a buffer would be copied into every fork); no signal handlers
// (the server's own are the process's).
std::string start_interpreter(const std::string& executable, const std::string& spec,
                              const std::vector<std::string>& args) {
  PyPreConfig pre;
  PyPreConfig_InitIsolatedConfig(&pre);
  pre.utf8_mode = 1;
  PyStatus st = Py_PreInitialize(&pre);
  if (PyStatus_Exception(st)) return status_text(st);

  PyConfig config;
  PyConfig_InitIsolatedConfig(&config);
  config.buffered_stdio = 0;
  config.install_signal_handlers = 0;
  config.parse_argv = 0;
  std::vector<std::string> argv{spec};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> raw;
  for (std::string& a : argv) raw.push_back(a.data());
  st = PyConfig_SetBytesString(&config, &config.executable, executable.c_str());
  if (!PyStatus_Exception(st)) {
    st = PyConfig_SetBytesString(&config, &config.program_name, executable.c_str());
  }
  if (!PyStatus_Exception(st)) {
    st = PyConfig_SetBytesArgv(&config, static_cast<Py_ssize_t>(raw.size()), raw.data());
  }
  if (!PyStatus_Exception(st)) st = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  return PyStatus_Exception(st) ? status_text(st) : "";
}

PyObject* import_bootstrap() {
  PyObject* code = Py_CompileString(kBootstrapSource, "<zygote bootstrap>", Py_file_input);
  if (code == nullptr) return nullptr;
  PyObject* mod = PyImport_ExecCodeModule("_zygote", code);
  Py_DECREF(code);
  return mod;
}

class PythonLoader final : public AppLoader {
 public:
  LoadResult load(const Version& version, const std::vector<std::string>& args) override {
    const std::string spec = args.empty() ? "" : args[0];
    const std::vector<std::string> rest(args.begin() + (args.empty() ? 0 : 1), args.end());
    const auto fail = [&](const std::string& why) {
      return LoadResult{nullptr, "Cannot load Python app " + spec + " from " + version + ": " +
                                     why + (why.ends_with('.') ? "" : ".")};
    };
    if (Py_IsInitialized()) return fail("this zygote has loaded a Python app already");
    std::string executable = ZYGOTE_PYTHON_EXECUTABLE;
    std::string kind = "python " PY_VERSION " WSGI " + spec;
    if (auto venv = find_venv(version)) {
      if (std::string why = check_venv(*venv); !why.empty()) return fail(why);
      executable = *venv + (is_file(*venv + "/bin/python") ? "/bin/python" : "/bin/python3");
      kind += " (virtualenv " + venv->substr(venv->rfind('/') + 1) + ")";
    }
    if (std::string why = start_interpreter(executable, spec, rest); !why.empty()) {
      return fail("the interpreter did not start: " + why);
    }
    if (!init_start_response_type()) return fail(python_error("the server's types"));
    PyObject* bootstrap = import_bootstrap();
    if (bootstrap == nullptr) return fail(python_error("the server's bootstrap"));
    PyObject* app = call_load(bootstrap, version, spec, rest);
    if (app == nullptr) {
      std::string why = describe(bootstrap, spec, version);
      Py_DECREF(bootstrap);
      return fail(why);
    }
    return {std::make_unique<PythonApp>(bootstrap, app), "", kind};
  }

 private:
  static PyObject* call_load(PyObject* bootstrap, const std::string& release,
                             const std::string& spec, const std::vector<std::string>& args) {
    PyObject* list = PyList_New(0);
    if (list == nullptr) return nullptr;
    for (const std::string& a : args) {
      PyObject* s = PyUnicode_DecodeFSDefault(a.c_str());
      if (s == nullptr || PyList_Append(list, s) != 0) {
        Py_XDECREF(s);
        Py_DECREF(list);
        return nullptr;
      }
      Py_DECREF(s);
    }
    PyObject* app =
        PyObject_CallMethod(bootstrap, "load", "ssO", release.c_str(), spec.c_str(), list);
    Py_DECREF(list);
    return app;
  }

  // The pending exception as one line for `ctl status`; its traceback goes to the log.
  static std::string describe(PyObject* bootstrap, const std::string& spec,
                              const std::string& release) {
    PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != nullptr && tb != nullptr) PyException_SetTraceback(value, tb);
    std::string line = "an exception with no value";
    if (value != nullptr) {
      PyObject* s = PyObject_CallMethod(bootstrap, "describe_failure", "Oss", value, spec.c_str(),
                                        release.c_str());
      if (s != nullptr && PyUnicode_Check(s)) line = PyUnicode_AsUTF8(s);
      if (s == nullptr) PyErr_Clear();
      Py_XDECREF(s);
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return line;
  }

  static std::string python_error(const std::string& what) {
    PyErr_PrintEx(0);
    return "could not set up " + what;
  }
};

}  // namespace

PythonApp::PythonApp(PyObject* bootstrap, PyObject* app) : bootstrap_(bootstrap), app_(app) {
  file_wrapper_ = PyObject_GetAttrString(bootstrap_, "FileWrapper");
  PyObject* io = PyImport_ImportModule("io");
  if (io != nullptr) bytes_io_ = PyObject_GetAttrString(io, "BytesIO");
  Py_XDECREF(io);
  errors_ = PySys_GetObject("stderr");  // borrowed
  Py_XINCREF(errors_);
  version_ = Py_BuildValue("(ii)", 1, 0);
  if (file_wrapper_ == nullptr || bytes_io_ == nullptr || errors_ == nullptr ||
      version_ == nullptr) {
    PyErr_PrintEx(0);
    std::fprintf(stderr, "zygote: the Python app's environ could not be set up\n");
    std::abort();  // the interpreter is broken beyond serving: the zygote's death says so
  }
}

// Runs in the zygote only if the loader fails after building the app; the interpreter is left
// as it is (a zygote exits without finalizing it).
PythonApp::~PythonApp() {
  if (!Py_IsInitialized()) return;
  if (saved_ != nullptr) PyEval_RestoreThread(saved_);
  Py_XDECREF(version_);
  Py_XDECREF(errors_);
  Py_XDECREF(bytes_io_);
  Py_XDECREF(file_wrapper_);
  Py_XDECREF(app_);
  Py_XDECREF(bootstrap_);
  saved_ = nullptr;
}

// The interpreter's locks (import lock and others) are held across the fork, so the child never
// inherits one mid-use; os.register_at_fork's "before" hooks run here.
void PythonApp::before_fork() { PyOS_BeforeFork(); }
void PythonApp::after_fork_parent() { PyOS_AfterFork_Parent(); }

// First thing in a worker: the interpreter learns it is a new process (its thread state, its
// locks, `random`'s state), the app's after_in_child hooks run; then the GIL is released until a
// request comes.
void PythonApp::worker_init() {
  PyOS_AfterFork_Child();
  saved_ = PyEval_SaveThread();
}

// atexit hooks and a flush, then the worker's own _exit: finalizing the interpreter would touch
// every object, and so copy every page the worker shares with its zygote.
void PythonApp::worker_exit() {
  if (saved_ != nullptr) PyEval_RestoreThread(saved_);
  saved_ = nullptr;
  PyObject* done = PyObject_CallMethod(bootstrap_, "run_exit_hooks", nullptr);
  if (done == nullptr) PyErr_PrintEx(0);
  Py_XDECREF(done);
}

}  // namespace zyg::python

// The module's one entry point, found with dlsym by the zygote.
extern "C" __attribute__((visibility("default"))) zyg::AppLoader* zygote_python_loader() {
  static zyg::python::PythonLoader loader;
  return &loader;
}
