# Bench peer: the story's Ruby prefork server (/work/shared/reference/seed-raas-blog-post.txt):
# the master binds and listens, forks workers that each loop on a blocking accept of the shared
# socket, read one line with gets, answer it reversed and close.
# Runs in: its own processes (ruby from Debian's package, installed by the bench when missing).
#
# Usage: ruby prefork.rb PORT [WORKERS]   prints "ready" once forked; SIGTERM stops them all.
require 'socket'

port = Integer(ARGV[0])
workers = Integer(ARGV[1] || 2)
socket = Socket.new(:INET, :STREAM)
socket.setsockopt(:SOCKET, :REUSEADDR, true)
socket.bind(Addrinfo.tcp('127.0.0.1', port))
socket.listen(1024)

pids = Array.new(workers) do
  fork do
    trap('TERM') { exit!(0) }
    while (client_socket, _ = socket.accept)
      input = client_socket.gets || ''
      client_socket.puts input.chomp.reverse
      client_socket.close
    end
  end
end
puts 'ready'
$stdout.flush
stop = lambda do |_|
  pids.each { |pid| Process.kill('TERM', pid) rescue nil }
  pids.each { |pid| Process.wait(pid) rescue nil }
  exit!(0)
end
%w[TERM INT QUIT].each { |sig| trap(sig, &stop) }
sleep
