# Requests per second, zygote-real (hello) against nginx, from throughput.dat.
load root.'/bench/plots/common.gp'
set output dir.'/throughput.svg'
set title "Throughput on 127.0.0.1 (wrk, same connections and duration)"
set ylabel "requests per second"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set yrange [0:*]
set key top right
plot dir.'/throughput.dat' using 2:xtic(1) title "zygote-real (hello)", \
     '' using 3 title "nginx (return 200)"
