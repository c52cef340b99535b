{{/*
Checks of value combinations the schema cannot express. Included by validations.yaml and
NOTES.txt, so `helm template`, `helm install` and `helm upgrade` all fail with the message.
*/}}
{{- define "otelfuse.validateValues" -}}
{{- $v := .Values }}
{{- if not $v.kafka.bootstrapServers }}
{{- fail "otelfuse: set kafka.bootstrapServers (host:port of the Kafka brokers)." }}
{{- end }}
{{- if $v.existingSecret }}
{{- $inline := list }}
{{- range $key := list "url" "host" "password" }}
{{- if index $v.clickhouse $key }}{{ $inline = append $inline (printf "clickhouse.%s" $key) }}{{ end }}
{{- end }}
{{- range $key := list "id" "publicKey" "secretKey" }}
{{- if index $v.initProject $key }}{{ $inline = append $inline (printf "initProject.%s" $key) }}{{ end }}
{{- end }}
{{- if $v.postgresql.url }}{{ $inline = append $inline "postgresql.url" }}{{ end }}
{{- if $v.s3.accessKeyId }}{{ $inline = append $inline "s3.accessKeyId" }}{{ end }}
{{- if $v.s3.secretAccessKey }}{{ $inline = append $inline "s3.secretAccessKey" }}{{ end }}
{{- if $inline }}
{{- fail (printf "otelfuse: existingSecret %q is set, so %s would be ignored; put them in that Secret (OTELFUSE_CLICKHOUSE_URL, OTELFUSE_POSTGRES_URL, OTELFUSE_INIT_PROJECT_*, ...) and leave these values empty." $v.existingSecret (join ", " $inline)) }}
{{- end }}
{{- else }}
{{- if and (not $v.clickhouse.url) (not $v.clickhouse.host) }}
{{- fail "otelfuse: no ClickHouse configured: set clickhouse.url or clickhouse.host (or existingSecret with OTELFUSE_CLICKHOUSE_URL)." }}
{{- end }}
{{- if and $v.clickhouse.url $v.clickhouse.host }}
{{- fail "otelfuse: set clickhouse.url or clickhouse.host, not both." }}
{{- end }}
{{- if not $v.postgresql.url }}
{{- fail "otelfuse: set postgresql.url (postgresql://user:password@host:5432/database) or existingSecret with OTELFUSE_POSTGRES_URL: the receiver, processor and query roles keep projects, API keys, model prices and prompts in PostgreSQL and do not start without it." }}
{{- end }}
{{- if not (and $v.initProject.id $v.initProject.publicKey $v.initProject.secretKey) }}
{{- fail "otelfuse: set initProject.id, initProject.publicKey and initProject.secretKey (or existingSecret): the migrate Job creates this project and key pair in PostgreSQL, the key every role then accepts." }}
{{- end }}
{{- if and $v.s3.accessKeyId (not $v.s3.secretAccessKey) }}
{{- fail "otelfuse: s3.accessKeyId is set without s3.secretAccessKey." }}
{{- end }}
{{- end }}
{{- $partitions := int $v.kafka.topics.observationsPartitions }}
{{- $p := $v.processor }}
{{- $processors := ternary (int $p.autoscaling.maxReplicas) (int $p.replicas) $p.autoscaling.enabled }}
{{- if gt $processors $partitions }}
{{- fail (printf "otelfuse: %d processor replicas exceed the %d partitions of %s (kafka.topics.observationsPartitions); extra processors would stay idle. Lower processor.replicas / processor.autoscaling.maxReplicas or add partitions." $processors $partitions $v.kafka.topics.observations) }}
{{- end }}
{{- range $component := list "receiver" "processor" }}
{{- $a := (index $v $component).autoscaling }}
{{- if and $a.enabled (gt (int $a.minReplicas) (int $a.maxReplicas)) }}
{{- fail (printf "otelfuse: %s.autoscaling.minReplicas (%d) exceeds maxReplicas (%d)." $component (int $a.minReplicas) (int $a.maxReplicas)) }}
{{- end }}
{{- end }}
{{- range $component := list "receiver" "processor" "query" }}
{{- $pdb := (index $v $component).podDisruptionBudget }}
{{- if and $pdb.enabled (kindIs "invalid" $pdb.minAvailable) (kindIs "invalid" $pdb.maxUnavailable) }}
{{- fail (printf "otelfuse: %s.podDisruptionBudget needs minAvailable or maxUnavailable." $component) }}
{{- end }}
{{- end }}
{{- if and $v.prometheusRule.enabled (not $v.serviceMonitor.enabled) (not $v.prometheusRule.selector) }}
{{- fail "otelfuse: prometheusRule.enabled needs serviceMonitor.enabled (the alerts select its job labels) or an explicit prometheusRule.selector." }}
{{- end }}
{{- end }}
