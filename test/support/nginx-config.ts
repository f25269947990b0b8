// An nginx configuration for tests and benchmarks: one worker in the foreground, everything it
// writes (pid, error log, temporary files) under `prefix`, no access log; `http` is the inside of
// the `http { }` block.
export function nginxConfig(prefix: string, http: string, workerConnections = 4096): string {
  return `${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
daemon off;
master_process on;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections ${workerConnections}; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
${http}
}
`;
}
