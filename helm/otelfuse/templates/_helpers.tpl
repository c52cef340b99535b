{{/*
Expand the name of the chart.
*/}}
{{- define "otelfuse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
Truncated at 63 characters because some Kubernetes name fields are limited to this (DNS-1123).
If the release name contains the chart name it is used as the full name.
*/}}
{{- define "otelfuse.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of a component's resources: "<fullname>-<component>", kept within 63 characters.
Usage: include "otelfuse.componentName" (dict "root" $ "component" "receiver")
*/}}
{{- define "otelfuse.componentName" -}}
{{- $suffix := printf "-%s" .component }}
{{- printf "%s%s" (include "otelfuse.fullname" .root | trunc (int (sub 63 (len $suffix))) | trimSuffix "-") $suffix }}
{{- end }}

{{/*
Chart name and version as used by the helm.sh/chart label.
*/}}
{{- define "otelfuse.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels (selector labels plus chart, version, managed-by, part-of).
*/}}
{{- define "otelfuse.labels" -}}
helm.sh/chart: {{ include "otelfuse.chart" . }}
{{ include "otelfuse.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "otelfuse.name" . }}
{{- with .Values.additionalLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels: stable across upgrades, never include versions.
*/}}
{{- define "otelfuse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "otelfuse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of one component's resources.
Usage: include "otelfuse.componentLabels" (dict "root" $ "component" "receiver")
*/}}
{{- define "otelfuse.componentLabels" -}}
{{ include "otelfuse.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Selector labels of one component.
*/}}
{{- define "otelfuse.componentSelectorLabels" -}}
{{ include "otelfuse.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Name of the ServiceAccount of the long-running pods.
*/}}
{{- define "otelfuse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "otelfuse.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository@digest, or repository:tag (tag defaults to appVersion).
*/}}
{{- define "otelfuse.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Names of the ConfigMap and of the Secret the pods read through envFrom.
*/}}
{{- define "otelfuse.configMapName" -}}
{{- include "otelfuse.fullname" . }}
{{- end }}

{{- define "otelfuse.secretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else }}
{{- include "otelfuse.fullname" . }}
{{- end }}
{{- end }}

{{/*
OTELFUSE_CLICKHOUSE_URL from clickhouse.url, or built from host/port/user/password/database.
User and password are URL-encoded (spaces as %20: clickhouse-driver unquotes, it does not
turn "+" into a space).
*/}}
{{- define "otelfuse.clickhouseURL" -}}
{{- $ch := .Values.clickhouse }}
{{- if $ch.url }}
{{- $ch.url }}
{{- else if $ch.host }}
{{- $user := urlquery $ch.user | replace "+" "%20" }}
{{- $auth := $user }}
{{- if $ch.password }}
{{- $auth = printf "%s:%s" $user (urlquery $ch.password | replace "+" "%20") }}
{{- end }}
{{- printf "clickhouse://%s@%s:%d/%s" $auth $ch.host (int $ch.port) $ch.database }}
{{- end }}
{{- end }}

{{/*
Checksum of the rendered ConfigMap and Secret, for the checksum/config pod annotation.
*/}}
{{- define "otelfuse.configChecksum" -}}
{{- $config := include (print .Template.BasePath "/configmap.yaml") . }}
{{- $secret := include (print .Template.BasePath "/secret.yaml") . }}
{{- printf "%s\n---\n%s" $config $secret | sha256sum }}
{{- end }}

{{/*
Container ports: fixed inside the pod (the bind addresses in the ConfigMap use them).
*/}}
{{- define "otelfuse.grpcContainerPort" -}}4317{{- end }}
{{- define "otelfuse.httpContainerPort" -}}4318{{- end }}


{{/*
Non-secret blob store settings (S3, or the chart's MinIO), as a YAML map of OTELFUSE_* names;
rendered into the ConfigMap and inline into the migrate Job (which creates the bucket).
*/}}
{{- define "otelfuse.blobSettings" -}}
{{- $s := .Values.s3 -}}
{{- $endpoint := $s.endpoint -}}
{{- if and .Values.minio.enabled (not $endpoint) -}}
{{- $endpoint = printf "http://%s:9000" (include "otelfuse.componentName" (dict "root" . "component" "minio")) -}}
{{- end -}}
OTELFUSE_BLOB_BACKEND: s3
OTELFUSE_S3_BUCKET: {{ default "otelfuse" $s.bucket | quote }}
{{- with $endpoint }}
OTELFUSE_S3_ENDPOINT: {{ . | quote }}
{{- end }}
{{- with $s.region }}
OTELFUSE_S3_REGION: {{ . | quote }}
{{- end }}
{{- with $s.prefix }}
OTELFUSE_S3_PREFIX: {{ . | quote }}
{{- end }}
OTELFUSE_S3_FORCE_PATH_STYLE: {{ $s.forcePathStyle | toString | quote }}
OTELFUSE_S3_MAX_CONCURRENCY: {{ $s.maxConcurrency | int64 | quote }}
OTELFUSE_BLOB_OFFLOAD_BYTES: {{ $s.offloadBytes | int64 | quote }}
OTELFUSE_BLOB_RESOLVE_MAX_BYTES: {{ $s.resolveMaxBytes | int64 | quote }}
{{- end }}

{{/*
S3 credentials for the Secrets (release and migrate hook): s3.accessKeyId/secretAccessKey, else
the chart's MinIO root user; nothing when neither (the pods' own credentials are used).
*/}}
{{- define "otelfuse.s3Credentials" -}}
{{- if .Values.s3.accessKeyId }}
OTELFUSE_S3_ACCESS_KEY: {{ .Values.s3.accessKeyId | quote }}
OTELFUSE_S3_SECRET_KEY: {{ .Values.s3.secretAccessKey | quote }}
{{- else if and .Values.minio.enabled (not .Values.s3.endpoint) }}
OTELFUSE_S3_ACCESS_KEY: {{ .Values.minio.rootUser | quote }}
OTELFUSE_S3_SECRET_KEY: {{ .Values.minio.rootPassword | quote }}
{{- end }}
{{- end }}
