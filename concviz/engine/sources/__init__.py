"""Where events come from besides the experiment process.

* :mod:`procfs`: readers of ``/proc`` for any program's process tree (schedstat, stat, syscall,
  comm, the tree itself), robust to threads and processes that vanish between two reads;
* :mod:`infer`: the rules that name what a blocked thread waits for (the GIL, a lock, I/O),
  each labelled as an inference;
* :mod:`tracer`: turns successive readings into concviz events (START, RUN, SLEEP, FINISH...)
  plus the states a Timeline cannot express yet (waiting for a CPU, for the GIL, on a lock);
* :mod:`sampler`: the sampling loop that runs outside the traced program, at an adaptive rate.

Nothing here imports textual or rich (the engine is headless), and nothing here ever stops or
signals a traced program: it is only read.
"""
