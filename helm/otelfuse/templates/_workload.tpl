{{/*
Workload templates shared by the receiver, processor and query components. Each is called
with (dict "root" $ "component" "<name>"); the component's values are .Values.<name>, and
global pod defaults (nodeSelector, tolerations, ...) apply where the component sets none.
*/}}

{{/*
Container ports of a component; every role serves HTTP (health, /metrics) on "http".
*/}}
{{- define "otelfuse.containerPorts" -}}
{{- if eq .component "receiver" }}
- name: otlp-grpc
  containerPort: {{ include "otelfuse.grpcContainerPort" . }}
  protocol: TCP
{{- end }}
- name: http
  containerPort: {{ include "otelfuse.httpContainerPort" . }}
  protocol: TCP
{{- end }}

{{/*
Pod template of a long-running component.
*/}}
{{- define "otelfuse.podTemplate" -}}
{{- $root := .root }}
{{- $values := $root.Values }}
{{- $c := index $values .component }}
metadata:
  labels:
    {{- include "otelfuse.componentSelectorLabels" . | nindent 4 }}
    {{- with (merge (dict) $c.podLabels $values.podLabels) }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- $annotations := merge (dict) $c.podAnnotations $values.podAnnotations }}
  {{- if $values.enableConfigChecksumAnnotation }}
  {{- $_ := set $annotations "checksum/config" (include "otelfuse.configChecksum" $root) }}
  {{- end }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "otelfuse.serviceAccountName" $root }}
  automountServiceAccountToken: {{ $values.serviceAccount.automountServiceAccountToken }}
  {{- with $values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ $c.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml $values.podSecurityContext | nindent 4 }}
  containers:
    - name: {{ .component }}
      image: {{ include "otelfuse.image" $root | quote }}
      imagePullPolicy: {{ $values.image.pullPolicy }}
      args:
        - {{ .component }}
      ports:
        {{- include "otelfuse.containerPorts" . | trim | nindent 8 }}
      envFrom:
        - configMapRef:
            name: {{ include "otelfuse.configMapName" $root }}
        - secretRef:
            name: {{ include "otelfuse.secretName" $root }}
        {{- with $values.extraEnvFrom }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with (concat $values.extraEnv $c.extraEnv) }}
      env:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.startupProbe }}
      startupProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.livenessProbe }}
      livenessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.readinessProbe }}
      readinessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.lifecycle }}
      lifecycle:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $values.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        - name: data
          mountPath: /var/lib/otelfuse
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: {{ $values.volumes.tmpSizeLimit }}
    - name: data
      emptyDir:
        sizeLimit: {{ $values.volumes.dataSizeLimit }}
  {{- with (default $values.nodeSelector $c.nodeSelector) }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with (default $values.affinity $c.affinity) }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with (default $values.tolerations $c.tolerations) }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with (default $values.topologySpreadConstraints $c.topologySpreadConstraints) }}
  topologySpreadConstraints:
    {{- tpl (toYaml .) $root | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
Deployment of a component. `replicas` is left to the HPA when the component autoscales.
*/}}
{{- define "otelfuse.deployment" -}}
{{- $root := .root }}
{{- $c := index $root.Values .component }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "otelfuse.componentName" . }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "otelfuse.componentLabels" . | nindent 4 }}
spec:
  {{- if not (and $c.autoscaling $c.autoscaling.enabled) }}
  replicas: {{ $c.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  {{- with $c.strategy }}
  strategy:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "otelfuse.componentSelectorLabels" . | nindent 6 }}
  template:
    {{- include "otelfuse.podTemplate" . | trim | nindent 4 }}
{{- end }}

{{/*
HorizontalPodAutoscaler of a component (autoscaling/v2, CPU and optional memory targets).
*/}}
{{- define "otelfuse.hpa" -}}
{{- $root := .root }}
{{- $a := (index $root.Values .component).autoscaling }}
{{- if $a.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "otelfuse.componentName" . }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "otelfuse.componentLabels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "otelfuse.componentName" . }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $a.targetCPUUtilizationPercentage }}
    {{- if $a.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ $a.targetMemoryUtilizationPercentage }}
    {{- end }}
  {{- with $a.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}

{{/*
PodDisruptionBudget of a component (policy/v1).
*/}}
{{- define "otelfuse.pdb" -}}
{{- $root := .root }}
{{- $p := (index $root.Values .component).podDisruptionBudget }}
{{- if $p.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "otelfuse.componentName" . }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "otelfuse.componentLabels" . | nindent 4 }}
spec:
  {{- if not (kindIs "invalid" $p.minAvailable) }}
  minAvailable: {{ $p.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $p.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "otelfuse.componentSelectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}
