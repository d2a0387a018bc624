{{/* Names and labels shared by every object of a release. */}}

{{- define "spider.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "spider.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component (agent, query). */}}
{{- define "spider.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "spider.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "spider.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "spider.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{- define "spider.claimName" -}}
{{- default (printf "%s-data" (include "spider.fullname" .)) .Values.storage.persistentVolumeClaim.existingClaim -}}
{{- end -}}

{{/* The Secret of the API's tokens; empty when the API is left open. */}}
{{- define "spider.tokensSecret" -}}
{{- if .Values.query.tokens.existingSecret -}}
{{- .Values.query.tokens.existingSecret -}}
{{- else if .Values.query.tokens.create -}}
{{- printf "%s-tokens" (include "spider.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Each node's staging directory for uploads to the object store: one per release. */}}
{{- define "spider.stagingPath" -}}
{{- default (printf "/var/lib/spider/%s/staging" .Release.Name) .Values.storage.objectStore.stagingHostPath -}}
{{- end -}}

{{/* The lake arguments of `spider serve` and `spider retain`: the shared volume or the bucket. */}}
{{- define "spider.lakeArgs" -}}
- --data
{{- if eq .Values.storage.mode "objectStore" }}
{{- with .Values.storage.objectStore }}
- {{ .url | quote }}
{{- range $key, $value := .options }}
- --storage-option
- {{ printf "%s=%s" $key $value | quote }}
{{- end }}
{{- end }}
{{- else }}
- /var/lib/spider/data
{{- end }}
{{- end -}}

{{/*
A CronJob of lake maintenance (`spider rollup`, `spider retain`): root = the chart's context,
name, schedule, args (the command and its own arguments; the lake's are added).
*/}}
{{- define "spider.maintenanceJob" -}}
{{- $root := .root }}
{{- $inBucket := eq $root.Values.storage.mode "objectStore" }}
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {{ include "spider.fullname" $root }}-{{ .name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "spider.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .name }}
spec:
  schedule: {{ .schedule | quote }}
  concurrencyPolicy: Forbid
  successfulJobsHistoryLimit: 1
  failedJobsHistoryLimit: 3
  jobTemplate:
    spec:
      backoffLimit: 2
      template:
        metadata:
          labels:
            {{- include "spider.selector" (dict "root" $root "component" .name) | nindent 12 }}
        spec:
          restartPolicy: OnFailure
          automountServiceAccountToken: false
          {{- if $inBucket }}
          # The chart's cloud identity (serviceAccount.annotations), without an API token.
          serviceAccountName: {{ include "spider.serviceAccountName" $root }}
          securityContext:
            runAsNonRoot: true
            runAsUser: 65534
            runAsGroup: 65534
          {{- else }}
          # The agents write the shared volume as root: writing and deleting there takes root's
          # ownership, with every capability dropped.
          securityContext:
            runAsUser: 0
          {{- end }}
          {{- with $root.Values.imagePullSecrets }}
          imagePullSecrets:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          containers:
            - name: {{ .name }}
              image: {{ include "spider.image" $root }}
              imagePullPolicy: {{ $root.Values.image.pullPolicy }}
              args:
                - {{ first .args }}
                {{- include "spider.lakeArgs" $root | nindent 16 }}
                {{- range rest .args }}
                - {{ . | quote }}
                {{- end }}
              {{- if and $inBucket $root.Values.storage.objectStore.credentialsSecret }}
              envFrom:
                - secretRef:
                    name: {{ $root.Values.storage.objectStore.credentialsSecret }}
              {{- end }}
              securityContext:
                allowPrivilegeEscalation: false
                readOnlyRootFilesystem: true
                capabilities:
                  drop: [ALL]
              resources:
                requests: { cpu: 50m, memory: 128Mi }
                limits: { memory: 1Gi }
              volumeMounts:
                {{- if not $inBucket }}
                - name: data
                  mountPath: /var/lib/spider/data
                {{- end }}
                # DataFusion's scratch space (the root filesystem is read-only).
                - name: scratch
                  mountPath: /tmp
          volumes:
            {{- if not $inBucket }}
            - name: data
              persistentVolumeClaim:
                claimName: {{ include "spider.claimName" $root }}
            {{- end }}
            - name: scratch
              emptyDir:
                sizeLimit: 1Gi
{{- end -}}

{{/* The query service's URL inside the cluster. */}}
{{- define "spider.queryUrl" -}}
http://{{ include "spider.fullname" . }}-query.{{ .Release.Namespace }}:{{ .Values.query.service.port }}
{{- end -}}

{{/* The controller's feed URL inside the cluster. */}}
{{- define "spider.controllerUrl" -}}
http://{{ include "spider.fullname" . }}-controller.{{ .Release.Namespace }}:{{ .Values.controller.port }}
{{- end -}}

{{/* The Secret of the controller feed's token: the one given, else the one the chart makes. */}}
{{- define "spider.feedTokenSecret" -}}
{{- .Values.controller.feedToken.existingSecret | default (printf "%s-feed-token" (include "spider.fullname" .)) -}}
{{- end -}}

{{/* The feed token's variable, from its Secret (the controller and every agent have it). */}}
{{- define "spider.feedTokenEnv" -}}
- name: SPIDER_FEED_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "spider.feedTokenSecret" . }}
      key: token
{{- end -}}

{{/* Where an agent's components get Kubernetes metadata: the controller's feed, or the API. */}}
{{- define "spider.metadataSource" -}}
{{- if .Values.controller.enabled -}}
source: controller
controller: {{ include "spider.controllerUrl" . }}
controller_token: ${env:SPIDER_FEED_TOKEN}
{{- else -}}
source: kubernetes
auth_type: service_account
{{- end -}}
{{- end -}}
