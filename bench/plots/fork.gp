# Fork cost against the parent's resident memory (bench-fork), from fork.dat.
load root.'/bench/plots/common.gp'
set output dir.'/fork.svg'
set title "Fork cost against the parent's resident memory"
set xlabel "parent's touched memory (MiB)"
set ylabel "microseconds (log)"
set logscale xy
set xtics (1, 64, 256, 1024)
set key top left
plot dir.'/fork.dat' using 1:3 with linespoints lw 2 pt 7 title "fork() to reaped", \
     '' using 1:5 with linespoints lw 2 pt 5 title "LinuxOs::spawn to reaped", \
     '' using 1:2 with linespoints lw 1 dt 2 pt 7 title "fork() returns", \
     '' using 1:4 with linespoints lw 1 dt 2 pt 5 title "LinuxOs::spawn returns", \
     '' using 1:7 with linespoints lw 2 pt 9 title "fork() to reaped, THP", \
     '' using 1:9 with linespoints lw 2 pt 11 title "LinuxOs::spawn to reaped, THP"
